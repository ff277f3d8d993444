using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;

namespace AutoDesign.Nn.DGGAN
{
    /// <summary>
    /// Parameters as a name → float32 array map, with a small binary format, so that a child network can take
    /// exactly the layers it shares (same name, same shape) with its parent.
    /// Format: "DGW1", int32 count, then per entry: string name, int32 rank, int64[rank] shape, float32[numel] data.
    /// </summary>
    public sealed record NamedTensor(long[] Shape, float[] Data);

    public static class NamedWeights
    {
        public static Dictionary<string, NamedTensor> Capture(nn.Module module, string prefix = "")
        {
            var d = new Dictionary<string, NamedTensor>();
            foreach (var (name, p) in module.named_parameters())
            {
                using var cpu = p.detach().cpu().contiguous();
                d[prefix + name] = new NamedTensor(cpu.shape.ToArray(), cpu.data<float>().ToArray());
            }
            return d;
        }

        /// <summary>Copy every parameter whose (prefixed) name and shape exist in `weights`; return the copied names.</summary>
        public static List<string> Inherit(nn.Module module, IReadOnlyDictionary<string, NamedTensor> weights, string prefix = "")
        {
            var copied = new List<string>();
            using var _ = no_grad();
            foreach (var (name, p) in module.named_parameters())
            {
                if (!weights.TryGetValue(prefix + name, out var w)) continue;
                if (!w.Shape.SequenceEqual(p.shape)) continue;
                using var src = tensor(w.Data, w.Shape, dtype: ScalarType.Float32).to(p.device);
                p.copy_(src);
                copied.Add(prefix + name);
            }
            return copied;
        }

        public static void Write(Stream s, IReadOnlyDictionary<string, NamedTensor> weights)
        {
            using var w = new BinaryWriter(s, System.Text.Encoding.UTF8, leaveOpen: true);
            w.Write(new[] { (byte)'D', (byte)'G', (byte)'W', (byte)'1' });
            w.Write(weights.Count);
            foreach (var (name, t) in weights.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                w.Write(name);
                w.Write(t.Shape.Length);
                foreach (var d in t.Shape) w.Write(d);
                var bytes = new byte[t.Data.Length * 4];
                Buffer.BlockCopy(t.Data, 0, bytes, 0, bytes.Length);
                w.Write(bytes);
            }
        }

        /// <summary>Read a weights file; throws InvalidDataException naming the file when it is not one.</summary>
        public static Dictionary<string, NamedTensor> Read(string path)
        {
            try
            {
                using var s = File.OpenRead(path);
                using var r = new BinaryReader(s);
                var magic = r.ReadBytes(4);
                if (magic.Length != 4 || magic[0] != 'D' || magic[1] != 'G' || magic[2] != 'W' || magic[3] != '1')
                    throw new InvalidDataException($"{path} is not a DGGAN weights file (bad magic)");
                int n = r.ReadInt32();
                var d = new Dictionary<string, NamedTensor>();
                for (int i = 0; i < n; i++)
                {
                    var name = r.ReadString();
                    int rank = r.ReadInt32();
                    if (rank < 0 || rank > 8) throw new InvalidDataException($"{path}: bad tensor rank {rank}");
                    var shape = new long[rank];
                    long numel = 1;
                    for (int k = 0; k < rank; k++) { shape[k] = r.ReadInt64(); numel *= shape[k]; }
                    var bytes = r.ReadBytes(checked((int)(numel * 4)));
                    if (bytes.Length != numel * 4) throw new InvalidDataException($"{path} is truncated");
                    var data = new float[numel];
                    Buffer.BlockCopy(bytes, 0, data, 0, bytes.Length);
                    d[name] = new NamedTensor(shape, data);
                }
                return d;
            }
            catch (EndOfStreamException)
            {
                throw new InvalidDataException($"{path} is truncated");
            }
        }
    }
}

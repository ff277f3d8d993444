using System;
using System.IO;
using System.IO.Compression;

namespace AutoDesign.Nn.Plotting
{
    /// <summary>Minimal PNG encoder: 8-bit RGB, no interlace, filter 0 per row, zlib via .NET.</summary>
    public static class Png
    {
        static readonly uint[] CrcTable = BuildCrcTable();

        static uint[] BuildCrcTable()
        {
            var t = new uint[256];
            for (uint n = 0; n < 256; n++)
            {
                uint c = n;
                for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
                t[n] = c;
            }
            return t;
        }

        /// <summary>CRC-32 (ISO-HDLC, as PNG uses) of a byte span.</summary>
        public static uint Crc32(ReadOnlySpan<byte> data, uint crc = 0xFFFFFFFFu)
        {
            foreach (var b in data) crc = CrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
            return crc;
        }

        static void WriteBigEndian(Stream s, uint v)
        {
            s.WriteByte((byte)(v >> 24)); s.WriteByte((byte)(v >> 16)); s.WriteByte((byte)(v >> 8)); s.WriteByte((byte)v);
        }

        static void WriteChunk(Stream s, string type, byte[] data)
        {
            WriteBigEndian(s, (uint)data.Length);
            var head = new byte[4 + data.Length];
            for (int i = 0; i < 4; i++) head[i] = (byte)type[i];
            Buffer.BlockCopy(data, 0, head, 4, data.Length);
            s.Write(head, 0, head.Length);
            WriteBigEndian(s, Crc32(head) ^ 0xFFFFFFFFu);
        }

        /// <summary>Encode a width*height*3 RGB buffer (row-major) as PNG bytes.</summary>
        public static byte[] Encode(int width, int height, byte[] rgb)
        {
            if (width <= 0 || height <= 0) throw new ArgumentException("PNG size must be positive");
            if (rgb.Length != width * height * 3) throw new ArgumentException("RGB buffer size does not match width*height*3");
            using var ms = new MemoryStream();
            ms.Write(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, 0, 8);
            var ihdr = new byte[13];
            ihdr[0] = (byte)(width >> 24); ihdr[1] = (byte)(width >> 16); ihdr[2] = (byte)(width >> 8); ihdr[3] = (byte)width;
            ihdr[4] = (byte)(height >> 24); ihdr[5] = (byte)(height >> 16); ihdr[6] = (byte)(height >> 8); ihdr[7] = (byte)height;
            ihdr[8] = 8; ihdr[9] = 2; // bit depth 8, colour type 2 (RGB)
            WriteChunk(ms, "IHDR", ihdr);
            using (var raw = new MemoryStream())
            {
                using (var z = new ZLibStream(raw, CompressionLevel.Optimal, leaveOpen: true))
                {
                    int stride = width * 3;
                    for (int y = 0; y < height; y++)
                    {
                        z.WriteByte(0); // filter: none
                        z.Write(rgb, y * stride, stride);
                    }
                }
                WriteChunk(ms, "IDAT", raw.ToArray());
            }
            WriteChunk(ms, "IEND", Array.Empty<byte>());
            return ms.ToArray();
        }
    }
}

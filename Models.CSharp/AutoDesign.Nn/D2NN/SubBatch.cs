namespace AutoDesign.Nn.D2NN
{
    /// <summary>How a node's input was assembled from its producer (see <see cref="SubBatch.Gather"/>).</summary>
    public enum GatherKind
    {
        /// <summary>Same examples as the producer: its output tensor is passed on untouched.</summary>
        PassThrough,
        /// <summary>The examples are consecutive rows of the producer's output: a view (narrow), no copy.</summary>
        Slice,
        /// <summary>Scattered rows of the producer's output: index_select (one copy).</summary>
        Select,
        /// <summary>The producer ran on none of the examples: the default repeated.</summary>
        Default,
        /// <summary>Some examples take the default, the others the producer's rows (copy + scatter).</summary>
        Mixed,
        /// <summary>The producer ran on none of the examples and the input is a zero addend of a sum: dropped.</summary>
        Dropped
    }

    /// <summary>
    /// Sub-batch plumbing of the batched executor: assembling a node's input from its producer's compact
    /// output with as few tensor operations as the routing allows, and choosing greedy actions on the host.
    /// </summary>
    public static class SubBatch
    {
        /// <summary>
        /// The input of an edge from a producer whose output <paramref name="value"/> holds one row per
        /// example it ran on (<paramref name="producerPos"/>[i]: row of example i, -1 when it did not run;
        /// <paramref name="producerCount"/> rows in all), for the ascending examples <paramref name="rows"/>.
        /// <paramref name="dflt"/> (per-example shape) fills examples the producer skipped; null means
        /// every example in <paramref name="rows"/> must be present. With <paramref name="dropIfAbsent"/>
        /// an input the producer skipped entirely is not built (null is returned, kind Dropped).
        /// </summary>
        public static Tensor? Gather(Tensor value, int[] producerPos, int producerCount, long[] rows,
                                    Tensor dflt, bool dropIfAbsent, Device device, out GatherKind kind)
        {
            int present = 0;
            bool consecutive = true;
            int first = -1, prev = -1;
            foreach (var r in rows)
            {
                int p = producerPos[r];
                if (p < 0) continue;
                if (present == 0) first = p;
                else if (p != prev + 1) consecutive = false;
                prev = p;
                present++;
            }
            if (present == rows.Length)
            {
                // Both ascending: the same examples means the same rows in the same order.
                if (present == producerCount) { kind = GatherKind.PassThrough; return value; }
                if (consecutive) { kind = GatherKind.Slice; return value.narrow(0, first, present); }
                kind = GatherKind.Select;
                var src = new long[rows.Length];
                for (int k = 0; k < rows.Length; k++) src[k] = producerPos[rows[k]];
                using var idx = torch.tensor(src, device: device);
                return value.index_select(0, idx);
            }
            if (dflt is null) throw new InvalidOperationException("an example without input reached a node whose input has no default");
            if (present == 0 && dropIfAbsent) { kind = GatherKind.Dropped; return null; }
            var filled = Repeat(dflt, rows.Length, device);
            if (present == 0) { kind = GatherKind.Default; return filled; }
            kind = GatherKind.Mixed;
            var srcRows = new long[present];
            var dstRows = new long[present];
            int j = 0;
            for (int k = 0; k < rows.Length; k++)
            {
                int q = producerPos[rows[k]];
                if (q >= 0) { srcRows[j] = q; dstRows[j] = k; j++; }
            }
            using var di = torch.tensor(dstRows, device: device);
            if (consecutive) return filled.index_copy(0, di, value.narrow(0, first, present));
            using var si = torch.tensor(srcRows, device: device);
            return filled.index_copy(0, di, value.index_select(0, si));
        }

        /// <summary>A per-example value repeated for <paramref name="count"/> examples: [count, ...].</summary>
        public static Tensor Repeat(Tensor perExample, int count, Device device)
        {
            var dv = perExample.device == device ? perExample : perExample.to(device);
            var shape = new long[dv.dim() + 1];
            shape[0] = count;
            for (int i = 0; i < dv.dim(); i++) shape[i + 1] = dv.shape[i];
            return dv.unsqueeze(0).expand(shape).contiguous();
        }

        /// <summary>True when every element of <paramref name="t"/> is zero (null: false).</summary>
        public static bool IsAllZero(Tensor t)
        {
            if (t is null) return false;
            using var nz = t.count_nonzero();
            return nz.item<long>() == 0;
        }

        /// <summary>
        /// The highest-scoring action of each row of <paramref name="q"/> [k, A] (first on ties, as the
        /// reference executor). Float32 CPU scores are read in place without any tensor operation.
        /// </summary>
        public static long[] ArgMaxRows(Tensor q)
        {
            int k = (int)q.shape[0];
            int a = (int)q.shape[1];
            var best = new long[k];
            if (q.device_type == DeviceType.CPU && q.dtype == ScalarType.Float32 && q.is_contiguous())
            {
                var s = q.data<float>().ToArray();
                for (int i = 0; i < k; i++)
                {
                    int off = i * a;
                    int b = 0;
                    float bv = s[off];
                    for (int j = 1; j < a; j++)
                    {
                        float v = s[off + j];
                        if (v > bv) { bv = v; b = j; }
                    }
                    best[i] = b;
                }
                return best;
            }
            using var am = q.detach().argmax(1).cpu();
            return am.data<long>().ToArray();
        }
    }
}

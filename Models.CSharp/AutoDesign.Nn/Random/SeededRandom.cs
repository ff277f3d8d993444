namespace AutoDesign.Nn
{
    /// <summary>The complete state of a <see cref="SeededRandom"/>: enough to continue its stream exactly.</summary>
    /// <param name="Table">The 56-entry subtractive table (entry 0 unused).</param>
    /// <param name="Next">Index of the next entry to replace.</param>
    /// <param name="NextP">Index of the entry subtracted from it.</param>
    public sealed record RandomState(int[] Table, int Next, int NextP);

    /// <summary>
    /// A <see cref="Random"/> whose stream equals <c>new Random(seed)</c>'s (the seeded, Knuth-subtractive
    /// generator .NET keeps for compatibility; Next, NextDouble, NextSingle and NextBytes draw exactly as it
    /// does, NextInt64 is this class's own) and whose state can be saved and restored, so a training run
    /// that is killed and resumed draws exactly the numbers an uninterrupted run would.
    /// </summary>
    public sealed class SeededRandom : Random
    {
        const int Size = 56;
        int[] table = new int[Size];
        int next;
        int nextP;

        /// <summary>A generator seeded like <c>new Random(seed)</c>.</summary>
        public SeededRandom(int seed)
        {
            // Knuth, TAOCP vol. 2, 3.6: fill the table from the seed, then stir it four times.
            int mj = 161803398 - (seed == int.MinValue ? int.MaxValue : Math.Abs(seed));
            table[Size - 1] = mj;
            int mk = 1;
            int ii = 0;
            for (int i = 1; i < Size - 1; i++)
            {
                ii += 21;
                if (ii >= Size - 1) ii -= Size - 1;
                table[ii] = mk;
                mk = mj - mk;
                if (mk < 0) mk += int.MaxValue;
                mj = table[ii];
            }
            for (int k = 1; k < 5; k++)
            {
                for (int i = 1; i < Size; i++)
                {
                    int n = i + 30;
                    if (n >= Size - 1) n -= Size - 1;
                    table[i] -= table[1 + n];
                    if (table[i] < 0) table[i] += int.MaxValue;
                }
            }
            next = 0;
            nextP = 21;
        }

        /// <summary>A generator continuing from a saved state.</summary>
        public SeededRandom(RandomState state) { State = state; }

        /// <summary>The current state (a copy); setting it continues the stream from that point.</summary>
        public RandomState State
        {
            get => new RandomState((int[])table.Clone(), next, nextP);
            set
            {
                if (value is null || value.Table is null || value.Table.Length != Size)
                    throw new ArgumentException($"a random state needs a table of {Size} entries");
                if (value.Next < 0 || value.Next >= Size || value.NextP < 0 || value.NextP >= Size)
                    throw new ArgumentException("a random state's indices must lie in 0..55");
                table = (int[])value.Table.Clone();
                next = value.Next;
                nextP = value.NextP;
            }
        }

        int Step()
        {
            if (++next >= Size) next = 1;
            if (++nextP >= Size) nextP = 1;
            int v = table[next] - table[nextP];
            if (v == int.MaxValue) v--;
            if (v < 0) v += int.MaxValue;
            table[next] = v;
            return v;
        }

        double Unit() => Step() * (1.0 / int.MaxValue);

        double LargeRangeUnit()
        {
            int r = Step();
            if (Step() % 2 == 0) r = -r;
            double d = r;
            d += int.MaxValue - 1;
            return d / (2u * int.MaxValue - 1);
        }

        ulong NextUInt64()
        {
            Span<byte> b = stackalloc byte[8];
            NextBytes(b);
            return BitConverter.ToUInt64(b);
        }

        /// <inheritdoc />
        protected override double Sample() => Unit();
        /// <inheritdoc />
        public override int Next() => Step();
        /// <inheritdoc />
        public override int Next(int maxValue)
        {
            if (maxValue < 0) throw new ArgumentOutOfRangeException(nameof(maxValue));
            return (int)(Unit() * maxValue);
        }
        /// <inheritdoc />
        public override int Next(int minValue, int maxValue)
        {
            if (minValue > maxValue) throw new ArgumentOutOfRangeException(nameof(minValue));
            long range = (long)maxValue - minValue;
            return range <= int.MaxValue ? (int)(Unit() * range) + minValue : (int)((long)(LargeRangeUnit() * range) + minValue);
        }
        /// <inheritdoc />
        public override double NextDouble() => Unit();
        /// <inheritdoc />
        public override float NextSingle() => (float)Unit();
        /// <inheritdoc />
        public override void NextBytes(byte[] buffer)
        {
            ArgumentNullException.ThrowIfNull(buffer);
            for (int i = 0; i < buffer.Length; i++) buffer[i] = (byte)Step();
        }
        /// <inheritdoc />
        public override void NextBytes(Span<byte> buffer)
        {
            for (int i = 0; i < buffer.Length; i++) buffer[i] = (byte)Step();
        }
        /// <inheritdoc />
        public override long NextInt64()
        {
            while (true)
            {
                ulong r = NextUInt64() >> 1;
                if (r != long.MaxValue) return (long)r;
            }
        }
        /// <inheritdoc />
        public override long NextInt64(long maxValue) => NextInt64(0, maxValue);
        /// <inheritdoc />
        public override long NextInt64(long minValue, long maxValue)
        {
            if (minValue > maxValue) throw new ArgumentOutOfRangeException(nameof(minValue));
            ulong range = (ulong)(maxValue - minValue);
            if (range <= 1) return minValue;
            int bits = 64 - System.Numerics.BitOperations.LeadingZeroCount(range - 1); // ⌈log2 range⌉
            while (true)
            {
                ulong r = NextUInt64() >> (64 - bits);
                if (r < range) return (long)r + minValue;
            }
        }
    }
}

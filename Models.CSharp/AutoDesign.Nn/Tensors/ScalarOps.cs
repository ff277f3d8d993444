namespace AutoDesign.Nn
{
    /// <summary>
    /// Tensor-with-number arithmetic whose <see cref="Scalar"/> operand is owned for the duration of
    /// the native call. TorchSharp's operators with .NET numbers (<c>t * 0.5</c>, <c>t.pow(2)</c>,
    /// <c>clamp_min(0.0)</c>) convert the number to a finalizable Scalar that nothing refers to once
    /// its handle has been read; a garbage collection started by another thread can free it while
    /// libtorch still reads it (see <see cref="SafeSGD"/>). Library code uses these instead; a test
    /// scans the compiled assemblies for the unsafe forms.
    /// </summary>
    public static class ScalarOps
    {
        // Held by a static field, so never finalized: safe to share (libtorch only reads it).
        static readonly Scalar One = 1.ToScalar();

        /// <summary>a + b (TorchSharp's <c>a + b</c> makes a temporary alpha = 1 Scalar).</summary>
        public static Tensor Plus(this Tensor a, Tensor b) => a.add(b, One);
        /// <summary>a += b in place.</summary>
        public static Tensor PlusInPlace(this Tensor a, Tensor b) => a.add_(b, One);
        /// <summary>t · v</summary>
        public static Tensor Mul(this Tensor t, double v) { using var s = v.ToScalar(); return t.mul(s); }
        /// <summary>t + v</summary>
        public static Tensor Add(this Tensor t, double v) { using var s = v.ToScalar(); return t.add(s, One); }
        /// <summary>t − v</summary>
        public static Tensor Sub(this Tensor t, double v) { using var s = v.ToScalar(); return t.sub(s); }
        /// <summary>v − t</summary>
        public static Tensor RSub(this Tensor t, double v) { using var s = v.ToScalar(); return t.neg().add_(s, One); }
        /// <summary>v − t for an integer v (keeps an integer tensor integer).</summary>
        public static Tensor RSub(this Tensor t, long v) { using var s = v.ToScalar(); return t.neg().add_(s, One); }
        /// <summary>t / v</summary>
        public static Tensor Div(this Tensor t, double v) { using var s = v.ToScalar(); return t.div(s); }
        /// <summary>a + alpha · b</summary>
        public static Tensor AddScaled(this Tensor a, Tensor b, double alpha) { using var s = alpha.ToScalar(); return a.add(b, s); }
        /// <summary>t ^ v</summary>
        public static Tensor Pow(this Tensor t, double v) { using var s = v.ToScalar(); return t.pow(s); }
        /// <summary>t² (as t · t; TorchSharp's <c>square()</c> makes a temporary exponent Scalar).</summary>
        public static Tensor Squared(this Tensor t) => t.mul(t);
        /// <summary>max(t, lo)</summary>
        public static Tensor ClampMin(this Tensor t, double lo) { using var s = lo.ToScalar(); return t.clamp_min(s); }
        /// <summary>min(t, hi)</summary>
        public static Tensor ClampMax(this Tensor t, double hi) { using var s = hi.ToScalar(); return t.clamp_max(s); }
        /// <summary>min(max(t, lo), hi)</summary>
        public static Tensor Clamp(this Tensor t, double lo, double hi)
        {
            using var a = lo.ToScalar();
            using var b = hi.ToScalar();
            return t.clamp(a, b);
        }
        /// <summary>[t &gt; v] as a bool tensor.</summary>
        public static Tensor Gt(this Tensor t, double v) { using var s = v.ToScalar(); return t.gt(s); }
        /// <summary>[t &lt; v] as a bool tensor.</summary>
        public static Tensor Lt(this Tensor t, double v) { using var s = v.ToScalar(); return t.lt(s); }
        /// <summary>[t ≥ v] as a bool tensor.</summary>
        public static Tensor Ge(this Tensor t, double v) { using var s = v.ToScalar(); return t.ge(s); }
        /// <summary>[t == v] as a bool tensor.</summary>
        public static Tensor Eq(this Tensor t, double v) { using var s = v.ToScalar(); return t.eq(s); }
        /// <summary>Leaky ReLU with the given negative slope.</summary>
        public static Tensor LeakyRelu(this Tensor t, double slope) { using var s = slope.ToScalar(); return t.leaky_relu(s); }
        /// <summary>Fills t with v in place.</summary>
        public static Tensor Fill(this Tensor t, double v) { using var s = v.ToScalar(); return t.fill_(s); }
        /// <summary>A tensor of the given shape filled with v.</summary>
        public static Tensor Full(long[] shape, double v, ScalarType dtype, Device device)
        {
            using var s = v.ToScalar();
            return torch.full(shape, s, dtype: dtype, device: device);
        }
        /// <summary>0, 1, …, n−1 (TorchSharp's <c>arange(n)</c> makes temporary start/step Scalars).</summary>
        public static Tensor Arange(long n, ScalarType dtype, Device device)
        {
            using var start = 0L.ToScalar();
            using var stop = n.ToScalar();
            using var step = 1L.ToScalar();
            return torch.arange(start, stop, step, dtype: dtype, device: device);
        }
        /// <summary>The value of a one-element tensor as a double (no intermediate Scalar).</summary>
        public static double Item(this Tensor t)
        {
            using var c = t.detach().to_type(ScalarType.Float64).cpu();
            return c.item<double>();
        }
    }
}

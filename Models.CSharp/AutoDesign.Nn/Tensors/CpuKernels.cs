using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace AutoDesign.Nn
{
    /// <summary>
    /// Which libtorch kernels CPU convolutions use: libtorch's own (im2col + GEMM), never oneDNN (MKL-DNN).
    /// </summary>
    /// <remarks>
    /// In the libtorch that TorchSharp ships here (2.10), oneDNN's float32 convolution backward-data pass
    /// reads memory nobody wrote when the number of output channels is not a multiple of its channel block
    /// (16 with AVX-512): the input gradient of such a convolution is wrong by amounts of the order of the
    /// gradient itself, or NaN, and changes from run to run with whatever the heap held before (freed
    /// tensors, the garbage collector's timing). Its forward pass is wrong too when the number of input
    /// channels is above 16 and not a multiple of it (17, 33, 65: relative error about 0.2, every time).
    /// libtorch's own kernels compute both correctly. The choice is
    /// libtorch's process-wide <c>at::globalContext().setUserEnabledMkldnn(false)</c> (what
    /// <c>torch.backends.mkldnn.enabled = False</c> does in PyTorch), which TorchSharp does not expose, so it
    /// is called through the C++ entry points of libtorch_cpu. It is made when this assembly loads, before
    /// any of its models runs, so every forward and backward pass of a process uses the same kernels.
    /// </remarks>
    public static class CpuKernels
    {
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        delegate IntPtr GlobalContext();
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        delegate void SetFlag(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool value);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        [return: MarshalAs(UnmanagedType.U1)]
        delegate bool GetFlag(IntPtr context);

        static readonly object Gate = new();
        static (IntPtr context, SetFlag set, GetFlag get, SetFlag? setNnpack)? native;

#pragma warning disable CA2255 // the switch must precede every model of this assembly, in applications and notebooks alike
        [ModuleInitializer]
        internal static void OnLoad() => UseLibTorchConvolutions();
#pragma warning restore CA2255

        static IntPtr Export(IntPtr lib, string itanium, string msvc)
        {
            if (NativeLibrary.TryGetExport(lib, itanium, out var p) || NativeLibrary.TryGetExport(lib, msvc, out p)) return p;
            throw new InvalidOperationException($"libtorch_cpu exports neither {itanium} nor {msvc}: cannot choose its CPU convolution kernels");
        }

        static (IntPtr context, SetFlag set, GetFlag get, SetFlag? setNnpack) Native()
        {
            lock (Gate)
            {
                if (native is { } n) return n;
                torch.InitializeDeviceType(DeviceType.CPU);
                IntPtr lib = IntPtr.Zero;
                foreach (var name in new[] { "libtorch_cpu.so", "libtorch_cpu.dylib", "torch_cpu.dll" })
                    if (NativeLibrary.TryLoad(name, out lib) || NativeLibrary.TryLoad(name, typeof(torch).Assembly, null, out lib)) break;
                if (lib == IntPtr.Zero) throw new InvalidOperationException("libtorch_cpu is not loaded: cannot choose its CPU convolution kernels");
                var context = Marshal.GetDelegateForFunctionPointer<GlobalContext>(
                    Export(lib, "_ZN2at13globalContextEv", "?globalContext@at@@YAAEAVContext@1@XZ"))();
                var set = Marshal.GetDelegateForFunctionPointer<SetFlag>(
                    Export(lib, "_ZN2at7Context20setUserEnabledMkldnnEb", "?setUserEnabledMkldnn@Context@at@@QEAAX_N@Z"));
                var get = Marshal.GetDelegateForFunctionPointer<GetFlag>(
                    Export(lib, "_ZNK2at7Context17userEnabledMkldnnEv", "?userEnabledMkldnn@Context@at@@QEBA_NXZ"));
                // optional: only a warning is at stake where a build lacks it
                SetFlag? setNnpack = NativeLibrary.TryGetExport(lib, "_ZN2at7Context20setUserEnabledNNPACKEb", out var pn)
                    ? Marshal.GetDelegateForFunctionPointer<SetFlag>(pn) : null;
                native = (context, set, get, setNnpack);
                return native.Value;
            }
        }

        /// <summary>Whether libtorch may use oneDNN (MKL-DNN) kernels (false once this assembly is loaded).</summary>
        public static bool OneDnnEnabled
        {
            get { var n = Native(); return n.get(n.context); }
        }

        /// <summary>Make libtorch's CPU convolutions (forward and backward) use its own kernels, not oneDNN's.
        /// Idempotent; done when this assembly loads.</summary>
        public static void UseLibTorchConvolutions()
        {
            var n = Native();
            n.set(n.context, false);
            // With oneDNN off, libtorch would next try NNPACK, which cannot initialise on most x86 CPUs (it warns
            // "Could not initialize NNPACK! Reason: Unsupported hardware" on every process) and falls back to its
            // native kernels anyway; going there directly keeps the same kernels, and results, on every CPU.
            n.setNnpack?.Invoke(n.context, false);
        }
    }
}

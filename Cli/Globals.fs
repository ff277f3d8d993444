/// The options every command takes (`[<Inherit>]` in the top-level grammar): device, threads, run folders
/// and the job launcher. Commands receive them as one `Globals` value.
module AutoDesign.Cli.Globals

open System
open TorchSharp
open AutoDesign.Runs

/// `--device`.
type DeviceArg =
    | Auto
    | Cpu
    | Cuda

/// `--launcher`: `serial` runs everything in this process; `local` (the default) runs jobs on a pool of
/// worker processes; `slurm` submits them with sbatch.
type LauncherArg =
    | Serial
    | Local
    | Slurm

/// `on` / `off` values.
type Toggle =
    | On
    | Off

type Globals =
    {
        /// A short stable key of this command line without the launcher's options (names the folder of its jobs' logs).
        Key: string
        Device: DeviceArg
        Threads: int
        RunsRoot: string
        Force: bool
        Wait: bool
        Launcher: LauncherArg
        Workers: int option
        Retries: int
        Slurm: SlurmOptions
        /// The launcher options given on the command line (an error for commands that start no jobs).
        LaunchFlags: string list
    }

    static member Default =
        { Key = ""
          Device = Auto
          Threads = 1
          RunsRoot = "runs"
          Force = false
          Wait = false
          Launcher = Local
          Workers = None
          Retries = 3
          Slurm = SlurmOptions.Default
          LaunchFlags = [] }

    /// Run folder options: root, --force, --wait.
    member g.RunOptions: RunOptions = { Root = g.RunsRoot; Force = g.Force; Wait = g.Wait }

    /// The device name as the command line gives it.
    member g.DeviceName =
        match g.Device with
        | Auto -> "auto"
        | Cpu -> "cpu"
        | Cuda -> "cuda"

    /// Set torch's intra-op thread count, keep CPU convolutions on libtorch's own kernels (AutoDesign.Nn.CpuKernels)
    /// and resolve the device (an error when CUDA is asked for but absent).
    member g.Start() : torch.Device =
        torch.set_num_threads g.Threads
        AutoDesign.Nn.CpuKernels.UseLibTorchConvolutions()

        Device.resolve (
            match g.Device with
            | Auto -> DeviceChoice.Auto
            | Cpu -> DeviceChoice.Cpu
            | Cuda -> DeviceChoice.Cuda
        )

    /// The launcher for jobs of `threads` torch threads each; None: run in this process.
    member g.LauncherChoice: LauncherChoice option =
        match g.Launcher with
        | Serial -> None
        | Local -> Some(LauncherChoice.Local(defaultArg g.Workers (LocalLauncher.defaultWorkers g.Threads), g.Retries))
        | Slurm -> Some(LauncherChoice.Slurm { g.Slurm with Retries = g.Retries })

    /// Refuse launcher options on a command that starts no jobs (`--launcher serial`, "in this process",
    /// is what such a command does anyway, so it is accepted: jobs of a launcher pass it).
    member g.NoJobs(command: string) =
        let flags = if g.Launcher = Serial then g.LaunchFlags |> List.filter ((<>) "--launcher") else g.LaunchFlags

        match flags with
        | [] -> ()
        | flags -> Errors.fail "%s starts no jobs: %s do%s not apply" command (String.Join(", ", flags)) (if flags.Length = 1 then "es" else "")

/// One progress line with the wall-clock time in front.
let log (line: string) = printfn "[%s] %s" (DateTime.Now.ToString("HH:mm:ss")) line

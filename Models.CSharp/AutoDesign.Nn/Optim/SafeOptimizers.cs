namespace AutoDesign.Nn
{
    /// <summary>What the safe optimizers' steps share.</summary>
    static class SafeSteps
    {
        /// <summary>
        /// Each parameter that has a gradient, with the gradient a step applies: negated when maximizing, then with
        /// the weight decay term added (PyTorch's order); <paramref name="decay"/> is <paramref name="weightDecay"/>
        /// as an owned Scalar.
        /// </summary>
        internal static IEnumerable<(Parameter Param, Tensor Grad)> Gradients(
            IEnumerable<Parameter> parameters, bool maximize, double weightDecay, Scalar decay)
        {
            foreach (var param in parameters) {
                var grad = param.grad;
                if (grad is null) continue;
                if (maximize) grad = -grad;
                if (weightDecay != 0) grad = grad.add(param, decay);
                yield return (param, grad);
            }
        }
    }

    /// <summary>
    /// SGD with PyTorch's update rule (the same operations, in the same order, as
    /// <see cref="TorchSharp.Modules.SGD"/>), whose scalar operands live until the native call
    /// that reads them has returned.
    /// </summary>
    /// <remarks>
    /// TorchSharp's own <c>step</c> passes .NET doubles where a <see cref="Scalar"/> is expected
    /// (<c>buf.mul_(momentum)</c>, <c>add_(grad, alpha: ...)</c>). The implicit conversion makes a
    /// Scalar with a finalizer, and nothing refers to it once its handle has been read, so a
    /// garbage collection started by another thread while the native call runs can free it
    /// first; libtorch then reads a freed Scalar and fails in <c>Scalar::toDouble</c>
    /// ("Expected false to be true"), intermittently and depending on what ran before. Here every
    /// Scalar is created explicitly and disposed after use, which keeps it reachable throughout.
    /// State, parameter groups, state dictionaries and learning-rate schedulers are the base
    /// class's, so this is a drop-in replacement.
    /// </remarks>
    public sealed class SafeSGD : SGD
    {
        /// <summary>Same arguments as <c>torch.optim.SGD</c>.</summary>
        public SafeSGD(IEnumerable<Parameter> parameters, double lr, double momentum = 0.0, double dampening = 0.0,
                       double weight_decay = 0.0, bool nesterov = false, bool maximize = false)
            : base(parameters, lr, momentum, dampening, weight_decay, nesterov, maximize) { }

        /// <inheritdoc />
        public override Tensor step(Func<Tensor>? closure = null)
        {
            return _step<ParamGroup>(group => {
                var options = group.Options;
                var momentum = options.momentum!.Value;
                var dampening = options.dampening!.Value;
                var weightDecay = options.weight_decay!.Value;
                var nesterov = options.nesterov!.Value;
                var lr = options.LearningRate!.Value;
                using var sMomentum = momentum.ToScalar();
                using var sDamp = (1 - dampening).ToScalar();
                using var sDecay = weightDecay.ToScalar();
                using var sAlpha = (options.maximize!.Value ? lr : -lr).ToScalar();
                foreach (var (param, g) in SafeSteps.Gradients(group.Parameters, false, weightDecay, sDecay)) {
                    var state = (State)_state[param.Handle];
                    var grad = g;
                    if (momentum != 0) {
                        var buf = state.momentum_buffer;
                        if (buf is null) {
                            buf = grad.clone().detach().DetachFromDisposeScope();
                            state.momentum_buffer = buf;
                        } else {
                            buf.mul_(sMomentum).add_(grad, sDamp);
                        }
                        grad = nesterov ? grad.add(buf, sMomentum) : buf;
                    }
                    param.add_(grad, sAlpha);
                }
            }, closure);
        }
    }

    /// <summary>
    /// Adam with PyTorch's update rule (the operations of <see cref="TorchSharp.Modules.Adam"/>, in
    /// order), with explicitly owned scalar operands; see <see cref="SafeSGD"/> for why.
    /// </summary>
    public sealed class SafeAdam : Adam
    {
        /// <summary>Same arguments as <c>torch.optim.Adam</c>.</summary>
        public SafeAdam(IEnumerable<Parameter> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
                        double eps = 1e-8, double weight_decay = 0, bool amsgrad = false, bool maximize = false)
            : base(parameters, lr, beta1, beta2, eps, weight_decay, amsgrad, maximize) { }

        /// <inheritdoc />
        public override Tensor step(Func<Tensor>? closure = null)
        {
            return _step<ParamGroup>(group => {
                var options = group.Options as Options;
                var beta1 = options.beta1!.Value;
                var beta2 = options.beta2!.Value;
                var weightDecay = options.weight_decay!.Value;
                var amsgrad = options.amsgrad!.Value;
                var maximize = options.maximize!.Value;
                var eps = options.eps!.Value;
                var lr = options.LearningRate!.Value;
                using var sBeta1 = beta1.ToScalar();
                using var sBeta2 = beta2.ToScalar();
                using var sOneMinusBeta1 = (1 - beta1).ToScalar();
                using var sOneMinusBeta2 = (1 - beta2).ToScalar();
                using var sDecay = weightDecay.ToScalar();
                using var sEps = eps.ToScalar();
                using var sOne = 1.ToScalar();
                foreach (var (param, grad) in SafeSteps.Gradients(group.Parameters, maximize, weightDecay, sDecay)) {
                    var state = (State)_state[param.Handle];
                    state.step += 1;
                    var biasCorrection1 = 1 - Math.Pow(beta1, state.step);
                    var biasCorrection2 = 1 - Math.Pow(beta2, state.step);
                    state.exp_avg.mul_(sBeta1).add_(grad, sOneMinusBeta1);
                    state.exp_avg_sq.mul_(sBeta2).addcmul_(grad, grad.conj(), sOneMinusBeta2);
                    using var sSqrtBc2 = Math.Sqrt(biasCorrection2).ToScalar();
                    Tensor denom;
                    if (amsgrad) {
                        var t0 = state.max_exp_avg_sq;
                        state.max_exp_avg_sq = torch.maximum(t0, state.exp_avg_sq).DetachFromDisposeScope();
                        t0.Dispose();
                        denom = state.max_exp_avg_sq.sqrt().div(sSqrtBc2).add_(sEps, sOne);
                    } else {
                        denom = state.exp_avg_sq.sqrt().div(sSqrtBc2).add_(sEps, sOne);
                    }
                    using var sStep = (-(lr / biasCorrection1)).ToScalar();
                    param.addcdiv_(state.exp_avg, denom, sStep);
                }
            }, closure);
        }

        /// <summary>
        /// The parameters that one <see cref="step"/> with gradients <paramref name="grads"/> (one per parameter, in
        /// parameter-group order) would produce, as differentiable functions of the parameters and the gradients,
        /// from the optimizer's current moments and step count; the optimizer itself is not changed. Used to unroll
        /// an Adam step (look-ahead). The only departure from <see cref="step"/>: the second moment under the square
        /// root gets 1e-30 added, so the derivative stays finite where a moment and its gradient are both 0.
        /// </summary>
        public List<Tensor> LookAhead(IReadOnlyList<Tensor> grads)
        {
            var result = new List<Tensor>();
            int i = 0;
            foreach (var controller in ParamGroups)
            {
                var group = (ParamGroup)controller;
                var options = group.Options as Options;
                double beta1 = options.beta1!.Value, beta2 = options.beta2!.Value, eps = options.eps!.Value;
                double lr = options.LearningRate!.Value, weightDecay = options.weight_decay!.Value;
                if (options.amsgrad!.Value || options.maximize!.Value)
                    throw new NotSupportedException("Adam look-ahead supports neither amsgrad nor maximize");
                foreach (var param in group.Parameters)
                {
                    if (i >= grads.Count) throw new ArgumentException($"look-ahead got {grads.Count} gradients for more parameters");
                    var grad = grads[i++];
                    var state = (State)_state[param.Handle];
                    long t = state.step + 1;
                    double bc1 = 1 - Math.Pow(beta1, t), bc2 = 1 - Math.Pow(beta2, t);
                    var g = weightDecay != 0 ? grad.AddScaled(param, weightDecay) : grad;
                    var m1 = state.exp_avg is null ? g.Mul(1 - beta1) : state.exp_avg.detach().Mul(beta1).AddScaled(g, 1 - beta1);
                    var m2 = state.exp_avg_sq is null ? g.Squared().Mul(1 - beta2) : state.exp_avg_sq.detach().Mul(beta2).AddScaled(g.Squared(), 1 - beta2);
                    var denom = m2.Add(1e-30).sqrt().Div(Math.Sqrt(bc2)).Add(eps);
                    result.Add(param.AddScaled(m1.div(denom), -(lr / bc1)));
                }
            }
            if (i != grads.Count) throw new ArgumentException($"look-ahead got {grads.Count} gradients for {i} parameters");
            return result;
        }
    }

    /// <summary>
    /// RMSprop with PyTorch's update rule (the operations of <see cref="TorchSharp.Modules.RMSProp"/>,
    /// in order), with explicitly owned scalar operands; see <see cref="SafeSGD"/> for why.
    /// </summary>
    public sealed class SafeRMSProp : RMSProp
    {
        /// <summary>Same arguments as the <c>RMSProp</c> constructor (note: <c>torch.optim.RMSProp</c>'s
        /// factory defaults lr to 0.01, this constructor to 1e-3).</summary>
        public SafeRMSProp(IEnumerable<Parameter> parameters, double lr = 1e-3, double alpha = 0.99, double eps = 1e-8,
                           double weight_decay = 0, double momentum = 0.0, bool centered = false, bool maximize = false)
            : base(parameters, lr, alpha, eps, weight_decay, momentum, centered, maximize) { }

        /// <inheritdoc />
        public override Tensor step(Func<Tensor>? closure = null)
        {
            return _step<ParamGroup>(group => {
                var options = group.Options as Options;
                var maximize = options.maximize!.Value;
                var momentum = options.momentum!.Value;
                var alpha = options.alpha!.Value;
                var weightDecay = options.weight_decay!.Value;
                var centered = options.centered!.Value;
                var eps = options.eps!.Value;
                var lr = options.LearningRate!.Value;
                using var sOne = 1.ToScalar();
                using var sMinusOne = (-1).ToScalar();
                using var sAlpha = alpha.ToScalar();
                using var sOneMinusAlpha = (1 - alpha).ToScalar();
                using var sDecay = weightDecay.ToScalar();
                using var sEps = eps.ToScalar();
                using var sMomentum = momentum.ToScalar();
                using var sMinusLr = (-lr).ToScalar();
                foreach (var (param, grad) in SafeSteps.Gradients(group.Parameters, maximize, weightDecay, sDecay)) {
                    var state = (State)_state[param.Handle];
                    state.step += 1;
                    state.square_avg.mul_(sAlpha).addcmul_(grad, grad, sOneMinusAlpha);
                    Tensor avg;
                    if (centered) {
                        var gradAvg = state.grad_avg;
                        gradAvg.mul_(sAlpha).add_(grad, sOneMinusAlpha);
                        avg = state.square_avg.addcmul(gradAvg, gradAvg, sMinusOne).sqrt_().add_(sEps, sOne);
                    } else {
                        avg = state.square_avg.sqrt().add_(sEps, sOne);
                    }
                    if (momentum > 0) {
                        var buf = state.momentum_buffer;
                        buf.mul_(sMomentum).addcdiv_(grad, avg, sOne);
                        param.add_(buf, sMinusLr);
                    } else {
                        param.addcdiv_(grad, avg, sMinusLr);
                    }
                }
            }, closure);
        }
    }
}

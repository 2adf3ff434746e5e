// Package defend holds advtest's defences: the Defence interface, a
// registry by name, and the training loop that trainer defences share.
//
// A Defence hardens an ONNX model (onnxmodel.Model) and returns a new one
// that saves as ONNX; it never mutates the model it is given. Its Kind says
// how: Trainer defences train the weights, GraphRewrite defences change the
// graph, Preprocessor defences put a transformation in front of the input,
// Detector defences flag adversarial inputs. Defences are built by name
// from string parameters (New, as the harden loop's YAML gives them), each
// with documented defaults (Lookup(name).Params). Parameters are bound with
// pkg/params, as attacks' are; FactoryFor builds a registry entry from a
// defence that implements Configurable.
//
// The training core (Train, TrainConfig) runs mini-batch training of a
// model's float initializers through Model.Backprop in training mode, with
// SGD (momentum, Nesterov, L2 weight decay) or Adam/AdamW, learning-rate
// schedules, seeded shuffling, and a per-batch hook through which defences
// replace inputs (adversarial examples, noise) and targets (soft labels).
//
// Trainer defences: adversarial-training / pgd-at (Madry et al. 2018),
// fast-at (Wong et al. 2020), trades (Zhang et al. 2019),
// gaussian-augmentation (Zantedeschi et al. 2017), label-smoothing
// (Szegedy et al. 2016). Preprocessor defences: squeeze (Xu et al. 2018)
// and gaussian-noise (inference-time noise, Cohen et al. 2019).
//
// Preprocessor defences mark the model's metadata (PreprocessorKey,
// NoiseKey) so that Adaptive / AdaptiveWith can build the classifier an
// honest evaluation attacks (Athalye, Carlini and Wagner 2018): BPDA
// straight-through gradients for non-differentiable preprocessors, EOT
// over K seeded draws for randomised ones, composed in the order the
// graph applies them.
package defend

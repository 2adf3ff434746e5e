package cmd

import (
	"github.com/spf13/cobra"

	"github.com/advtest/advtest/pkg/run"
	"github.com/advtest/advtest/pkg/serve"
)

func init() {
	extraCommands = append(extraCommands, newServeCommand)
}

func newServeCommand() *cobra.Command {
	o := run.ServeOptions{}
	c := &cobra.Command{
		Use:   "serve --model m.onnx [--addr 127.0.0.1:8080] [--name NAME]",
		Short: "Serve an ONNX classifier over the Open Inference Protocol (KServe v2 REST)",
		Long: `serve answers the Open Inference Protocol (KServe v2 REST, as Triton, KServe,
Seldon MLServer and OpenVINO Model Server speak it) for one ONNX model:

  GET  /v2/health/live, /v2/health/ready
  GET  /v2/models/NAME                  metadata: input name, FP32, shape [-1, ...]
  POST /v2/models/NAME/infer            JSON tensors in, the model's outputs out

The answer is the model's graph output as it is (probabilities when the
model ends with Softmax), so a remote target can be tested locally.

For safety it binds only loopback addresses (127.0.0.1, ::1, localhost)
unless --allow-remote is given: the server has no authentication.
It stops gracefully on SIGINT or SIGTERM and then exits 0.`,
		Example: `  advtest serve --model model.onnx
  advtest serve -m model.onnx --addr 127.0.0.1:9000 --name cnn`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.Stdout, o.Stderr = c.OutOrStdout(), c.ErrOrStderr()
			return exitError(run.Serve(c.Context(), o))
		},
	}
	f := c.Flags()
	f.StringVarP(&o.Model, "model", "m", "", "ONNX model file (required)")
	f.StringVar(&o.Addr, "addr", "127.0.0.1:8080", "address to listen on (host:port; port 0 picks a free one)")
	f.StringVar(&o.Name, "name", "", "model name in URLs (default: the model file's base name)")
	f.BoolVar(&o.AllowRemote, "allow-remote", false, "allow binding a non-loopback address (the server has no authentication)")
	f.IntVar(&o.MaxBatch, "max-batch", serve.DefaultMaxBatch, "most samples in one request (more gets 413)")
	f.Int64Var(&o.MaxBody, "max-request-bytes", serve.DefaultMaxBodyBytes, "largest request body in bytes (larger gets 413)")
	return c
}

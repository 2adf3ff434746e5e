// Command advtest tests how easily an ONNX classifier is fooled by
// adversarial examples, hardens it, and gates CI on the result.
package main

import (
	"os"

	"github.com/advtest/advtest/cmd"
)

func main() {
	os.Exit(cmd.Execute())
}

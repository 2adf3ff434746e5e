module github.com/advtest/advtest

go 1.26.8

require (
	gonum.org/v1/gonum v0.17.0
	google.golang.org/protobuf v1.36.10
)

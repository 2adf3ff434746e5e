// Package config turns advtest's configuration (a YAML file, ADVTEST_*
// environment variables, flags and defaults) into a Plan: a typed,
// validated description of one run.
//
// The cmd layer builds a viper instance with NewViper, binds its flags to
// it, reads the config file with ReadFile and resolves the Plan with
// FromViper. The precedence is flags > environment > file > defaults. An
// unknown key in the file is an error that names it (viper alone would
// ignore it), and every validation error names its key and what was
// expected, e.g.
//
//	config: attacks[1].params.eps: want a number, got "abc"
//
// Attack parameters are kept as strings; Validate checks the form of the
// well-known ones (eps, steps, norm, ...) and the attack registry checks
// the rest. Relative paths are left as written, relative to the working
// directory. The keys are described in StarterConfig's commented YAML.
package config

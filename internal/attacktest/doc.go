// Package attacktest builds attacks from one spec string for tests: New is
// attack.ParseSpec followed by attack.New, the two steps the binary takes
// apart (it sets defaults between them). Only _test.go files import it.
package attacktest

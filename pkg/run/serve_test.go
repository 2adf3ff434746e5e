package run

import "testing"

func TestCheckLoopback(t *testing.T) {
	for _, a := range []string{"127.0.0.1:8080", "127.0.0.2:1", "[::1]:8080", "localhost:0", "LOCALHOST:9"} {
		if err := checkLoopback(a); err != nil {
			t.Errorf("%s refused: %v", a, err)
		}
	}
	for _, a := range []string{":8080", "0.0.0.0:8080", "[::]:80", "10.0.0.1:80", "example.com:80", "127.0.0.1"} {
		if err := checkLoopback(a); err == nil {
			t.Errorf("%s accepted", a)
		}
	}
}

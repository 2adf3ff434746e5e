package remote

import (
	"context"

	"golang.org/x/time/rate"
)

// Limiter paces requests. Wait blocks until one request may be sent, or
// returns ctx's error. *rate.Limiter from golang.org/x/time/rate satisfies
// it.
type Limiter interface {
	Wait(ctx context.Context) error
}

// NewRateLimiter returns a token bucket (golang.org/x/time/rate) that lets
// qps requests a second through on average, with bursts of at most burst
// requests (at least 1).
func NewRateLimiter(qps float64, burst int) Limiter {
	if burst < 1 {
		burst = 1
	}
	return rate.NewLimiter(rate.Limit(qps), burst)
}

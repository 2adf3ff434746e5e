package remote

import (
	"context"
	"sync"
	"time"
)

// Limiter paces requests. Wait blocks until one request may be sent, or
// returns ctx's error. *rate.Limiter from golang.org/x/time/rate satisfies
// it.
type Limiter interface {
	Wait(ctx context.Context) error
}

// NewRateLimiter returns a token bucket that lets qps requests a second
// through on average, with bursts of at most burst requests (at least 1).
//
// TODO(deps): this is a stand-in written because golang.org/x/time is not
// in go.mod's module graph. Once it is added, replace this with
// rate.NewLimiter(rate.Limit(qps), burst) and delete tokenBucket; the
// Limiter interface stays.
func NewRateLimiter(qps float64, burst int) Limiter {
	if burst < 1 {
		burst = 1
	}
	return &tokenBucket{interval: time.Duration(float64(time.Second) / qps), burst: burst}
}

// tokenBucket is the generic cell rate algorithm: tat is the theoretical
// arrival time of the next request; a request may go at tat minus the burst
// allowance. A Wait cancelled by its context gives its slot up only as far
// as time passes (it is not refunded).
type tokenBucket struct {
	mu       sync.Mutex
	interval time.Duration
	burst    int
	tat      time.Time
}

// Wait reserves the next slot and sleeps until it comes.
func (b *tokenBucket) Wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	now := time.Now()
	at := b.tat.Add(-time.Duration(b.burst-1) * b.interval)
	if at.Before(now) {
		at = now
	}
	if b.tat.Before(at) {
		b.tat = at
	}
	b.tat = b.tat.Add(b.interval)
	b.mu.Unlock()
	d := time.Until(at)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

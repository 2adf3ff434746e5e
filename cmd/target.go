package cmd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/advtest/advtest/pkg/attack"
	"github.com/advtest/advtest/pkg/remote"
	"github.com/advtest/advtest/pkg/tensor"
)

// remoteClassifier is a deployed model as the pool sees it: scores from an
// Open Inference Protocol endpoint, and no gradients. Black-box attacks get
// it only through a query-counting oracle; white-box attacks are refused
// before any traffic (checkRemotePool).
type remoteClassifier struct {
	client      *remote.Client
	sampleShape []int
	mu          sync.Mutex
	classes     int
}

func (r *remoteClassifier) NumClasses() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.classes == 0 {
		r.classes = r.client.NumClasses()
	}
	return r.classes
}

func (r *remoteClassifier) InputShape() []int { return r.sampleShape }

func (r *remoteClassifier) Logits(ctx context.Context, x *tensor.Tensor) (*tensor.Tensor, error) {
	s, err := r.client.Scores(ctx, x)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if r.classes == 0 && len(s.Shape) == 2 {
		r.classes = s.Shape[1]
	}
	r.mu.Unlock()
	return s, nil
}

var errNoGradients = errors.New("a remote target answers scores only: it has no gradients")

func (r *remoteClassifier) InputGradient(context.Context, *tensor.Tensor, func(*tensor.Tensor) (*tensor.Tensor, error)) (*tensor.Tensor, *tensor.Tensor, error) {
	return nil, nil, errNoGradients
}

// checkRemotePool refuses white-box attacks on a remote target.
func checkRemotePool(attacks []attack.Attack) error {
	var blackBox []string
	for _, name := range attack.Names() {
		a, err := attack.New(name, nil)
		if err == nil {
			if _, ok := a.(attack.BlackBox); ok {
				blackBox = append(blackBox, name)
			}
		}
	}
	for _, a := range attacks {
		if _, ok := a.(attack.BlackBox); !ok {
			return fmt.Errorf("attack %q needs gradients, and a remote --target answers scores only: use a black-box attack (%s)", a.Name(), strings.Join(blackBox, ", "))
		}
	}
	return nil
}

// dialTarget connects to the endpoint and checks that it answers.
func dialTarget(ctx context.Context, pf *planFlags, sampleShape []int, warn func(string)) (*remoteClassifier, error) {
	opts := remote.Options{QPS: pf.qps, MaxQueries: int64(pf.maxQueries), Timeout: pf.timeout, SampleShape: sampleShape}
	opts.OnRetry = func(err error, retry int, wait time.Duration) {
		warn(fmt.Sprintf("retry %d in %v after: %v", retry, wait.Round(time.Millisecond), err))
	}
	c, err := remote.Dial(ctx, pf.target, opts)
	if err != nil {
		return nil, err
	}
	return &remoteClassifier{client: c, sampleShape: sampleShape}, nil
}

package cmd

import (
	"context"

	"github.com/advtest/advtest/pkg/attack"
	"github.com/advtest/advtest/pkg/config"
	"github.com/advtest/advtest/pkg/dataset"
	"github.com/advtest/advtest/pkg/eval"
	"github.com/advtest/advtest/pkg/report"
)

// sanityIDs are the checks eval.Sanity runs, in its order.
var sanityIDs = []string{eval.CheckEpsGrowth, eval.CheckUnbounded, eval.CheckBlackBox, eval.CheckMoreSteps}

// runSanity runs the gradient-masking sanity checks (Carlini et al. 2019)
// on clf, given the pool's result on set, with the plan's batch size,
// seed and sample bound. clf must be what the pool attacked (the adaptive
// view of a defended model), so the reruns are as honest as the pool.
func runSanity(ctx context.Context, clf attack.Classifier, set *dataset.Set, res *eval.PoolResult, plan *config.Plan, p *progress) ([]report.SanityCheck, error) {
	checks, err := eval.Sanity(ctx, clf, set.X, set.Y, res, eval.SanityOptions{
		BatchSize: plan.BatchSize, Seed: plan.Seed, Samples: plan.Sanity.Samples,
		Progress: p.sanityProgress(sanityIDs),
	})
	p.finish()
	return checks, err
}

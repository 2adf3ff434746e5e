package attack

// ball holds what every norm-bounded attack shares: the norm and radius of
// its ball and the clip range.
type ball struct {
	norm   Norm
	eps    float64
	bounds Bounds
}

// Norm returns the norm of the attack's ball.
func (b *ball) Norm() Norm { return b.norm }

// boundedNorm is Norm for the minimum-norm attacks, whose eps is optional
// (it only decides which results count): the ball's norm when eps bounds
// the result, NormNone when it does not.
func (b *ball) boundedNorm() Norm {
	if b.eps > 0 {
		return b.norm
	}
	return NormNone
}

// Eps returns the radius of the attack's ball in input space (0 when
// unbounded).
func (b *ball) Eps() float64 { return b.eps }

// validate checks eps (when required) and the clip range.
func (b *ball) validate(name string, needEps bool) error {
	if needEps {
		if err := checkEps(name, b.eps); err != nil {
			return err
		}
	} else if b.eps < 0 {
		return paramErr(name, "eps", b.eps, "0 (unbounded) or a positive number")
	}
	if err := b.bounds.validate(); err != nil {
		return paramErr(name, "min/max", [2]float32{b.bounds.Min, b.bounds.Max}, "min < max")
	}
	return nil
}

func positiveInt(name, key string, v int) error {
	if v < 1 {
		return paramErr(name, key, v, "a positive integer")
	}
	return nil
}

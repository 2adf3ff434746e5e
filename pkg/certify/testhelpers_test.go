package certify

// MaxRadius is the largest radius n draws can certify: σ·Φ⁻¹(alpha^(1/n)),
// reached when all n draws give the top class.
func (p Params) MaxRadius() float64 {
	return Radius(p.Sigma, LowerConfidenceBound(p.N, p.N, p.Alpha))
}

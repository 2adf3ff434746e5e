package attack

// The attacks added for issue #14 (FAB, FAB-T, L1 APGD, EAD, FMN, the
// AutoAttack versions) join TestAttackContract through propertySpecs, so
// that every norm they support is checked for the clip range and the
// ball (Linf, L2, L1; L0 for FMN).
func init() {
	propertySpecs = append(propertySpecs,
		"fab:eps=0.1,steps=10",
		"fab:norm=l2,eps=0.5,steps=10,restarts=2",
		"fab:norm=l1,eps=1,steps=10,early_stop=false",
		"fab-t:eps=0.1,steps=10,n_targets=2",
		"fab-t:norm=l2,eps=0.4,steps=8,restarts=2,n_targets=3",
		"fab-t:norm=l1,eps=0.8,steps=8,n_targets=2",
	)
}

func init() {
	propertySpecs = append(propertySpecs,
		"apgd-ce:norm=l1,eps=1,steps=12",
		"apgd-t:norm=l1,eps=0.5,steps=10,n_targets=2,large_reps=true",
		"apgd-dlr:norm=l1,eps=2,steps=10,early_stop=false,eot_iter=2",
		"apgd-ce:eps=0.1,steps=6,eot_iter=3",
	)
}

func init() {
	propertySpecs = append(propertySpecs,
		"autoattack:version=plus,eps=0.1,steps=5,n_targets=2",
		"autoattack:version=rand,norm=l2,eps=0.5,steps=5,eot_iter=2",
		"autoattack:norm=l1,eps=1,steps=10,n_targets=2",
	)
}

func init() {
	propertySpecs = append(propertySpecs,
		"ead:max_iter=20,binary_steps=3",
		"ead:max_iter=20,binary_steps=2,eps=0.5,decision_rule=l1",
		"fmn:steps=15",
		"fmn:norm=linf,steps=15,eps=0.1",
		"fmn:norm=l1,steps=15,eps=0.8",
		"fmn:norm=l0,steps=15,eps=3",
		"fmn:norm=l2,steps=15,eps=0.4,alpha_init=0.5",
	)
}

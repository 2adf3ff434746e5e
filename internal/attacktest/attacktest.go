package attacktest

import "github.com/advtest/advtest/pkg/attack"

// New parses spec ("pgd:norm=linf,eps=0.3") with attack.ParseSpec and
// builds its attack with attack.New.
func New(spec string) (attack.Attack, error) {
	sp, err := attack.ParseSpec(spec)
	if err != nil {
		return nil, err
	}
	return attack.New(sp.Name, sp.Params)
}

package config

// HazardRule opens a hazard record (隐患) when alarm history shows one.
type HazardRule struct {
	Name string `yaml:"name" required:"true" doc:"Unique hazard rule name."`
}

// validateHazardRules checks hazard rules.
func (d *decoder) validateHazardRules(rs []HazardRule) {}

package alerting

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"hazgate/config"
)

// Presets: limits set by Chinese standards, so a site configures
// `preset: gb50493-combustible` instead of copying numbers. Explicit
// hh/h/l/ll keys in the same rule override a preset's level.
//
//   - GB/T 50493-2019 石油化工可燃气体和有毒气体检测报警设计标准, §5.5
//     报警值设定: combustible gas level 1 ≤ 25 %LEL and level 2 ≤ 50 %LEL
//     (5.5.1); toxic gas level 1 ≤ 100 % OEL and level 2 ≤ 200 % OEL (5.5.2);
//     oxygen over 23.5 %VOL and under 19.5 %VOL (5.5.3).
//   - GBZ 2.1-2019 工作场所有害因素职业接触限值 第1部分：化学有害因素,
//     table 1: the OELs (MAC, PC-STEL, PC-TWA) in mg/m³ that 5.5.2 refers to.
//   - GB 50974-2014 消防给水及消火栓系统技术规范: a municipal network with
//     hydrants works at no less than 0.14 MPa, and in a fire the least
//     favourable hydrant gets no less than 0.10 MPa (7.2.8); an indoor
//     hydrant's outlet dynamic pressure is no less than 0.35 MPa in high-rise
//     buildings, factories, warehouses and halls over 8 m, 0.25 MPa elsewhere
//     (7.4.12).
//
// GB/T 50493 level 1 compiles to level H (severity high) and level 2 to HH
// (critical), so AreaStatus ranks level 2 first.
const (
	PresetCombustible = "gb50493-combustible"
	PresetToxic       = "gb50493-toxic"
	PresetOxygen      = "gb50493-oxygen"
	PresetHydrant     = "gb50974-hydrant"
)

// Hydrant kinds of the gb50974-hydrant preset.
const (
	HydrantMunicipal      = "municipal"
	HydrantIndoor         = "indoor"
	HydrantIndoorHighRise = "indoor-high-rise"
)

// MolarVolume is the volume of one mole of ideal gas at 20 °C and
// 101.325 kPa, the reference state of GBZ 2.1 (标准采样体积: 20 ℃,
// 101.3 kPa): Vm = R·T/P = 8.314462618 × 293.15 / 101.325 = 24.055 L/mol.
const MolarVolume = 8.314462618 * 293.15 / 101.325

// ToxicGas is one gas of the gb50493-toxic table.
type ToxicGas struct {
	Formula string
	Name    string  // Chinese name as in GBZ 2.1
	Molar   float64 // g/mol of the species the limit is expressed as
	// OEL in mg/m³ from GBZ 2.1-2019 and which limit it is. We take MAC where
	// GBZ 2.1 sets one, else PC-STEL: detectors alarm on short exposures, and
	// GB/T 50493's OEL covers the three kinds.
	OELmg float64
	Basis string
}

// PPM converts the OEL to ppm (µmol/mol) at 20 °C, 101.325 kPa:
// ppm = mg/m³ × Vm / M.
func (g ToxicGas) PPM() float64 { return g.OELmg * MolarVolume / g.Molar }

// ToxicGases is the gb50493-toxic table, keyed by upper-case formula. In ppm
// (rounded): H2S 7.06, NH3 42.4, Cl2 0.339, CO 25.8, SO2 3.75, NO2 5.23,
// HCN 0.925, C6H6 3.08, COCl2 0.122. Level 1 is 100 % of it, level 2 200 %.
var ToxicGases = map[string]ToxicGas{
	"H2S":   {"H2S", "硫化氢", 34.08, 10, "MAC"},
	"NH3":   {"NH3", "氨", 17.031, 30, "PC-STEL"},
	"CL2":   {"Cl2", "氯", 70.906, 1, "MAC"},
	"CO":    {"CO", "一氧化碳 (非高原)", 28.010, 30, "PC-STEL"},
	"SO2":   {"SO2", "二氧化硫", 64.066, 10, "PC-STEL"},
	"NO2":   {"NO2", "二氧化氮", 46.006, 10, "PC-STEL"},
	"HCN":   {"HCN", "氰化氢 (按CN计)", 26.018, 1, "MAC"}, // the limit is expressed as CN
	"C6H6":  {"C6H6", "苯", 78.114, 10, "PC-STEL"},
	"COCL2": {"COCl2", "光气", 98.916, 0.5, "MAC"},
}

// gasAliases lets a config name a gas by its common name.
var gasAliases = map[string]string{"BENZENE": "C6H6", "PHOSGENE": "COCL2"}

// LookupToxicGas finds a gas by formula or common name, case-insensitively.
func LookupToxicGas(name string) (ToxicGas, bool) {
	k := strings.ToUpper(strings.TrimSpace(name))
	if a, ok := gasAliases[k]; ok {
		k = a
	}
	g, ok := ToxicGases[k]
	return g, ok
}

// presetLevels returns the levels a rule's preset sets.
func presetLevels(c config.Rule) (map[string]config.Level, error) {
	switch c.Preset {
	case PresetCombustible:
		return map[string]config.Level{
			LevelH:  {Value: 25, Severity: SeverityHigh},
			LevelHH: {Value: 50, Severity: SeverityCritical},
		}, nil
	case PresetToxic:
		g, ok := LookupToxicGas(c.Gas)
		if !ok {
			return nil, fmt.Errorf("preset %s needs gas, one of %s (got %q)", PresetToxic, strings.Join(gasNames(), ", "), c.Gas)
		}
		oel := g.PPM()
		return map[string]config.Level{
			LevelH:  {Value: oel, Severity: SeverityHigh},
			LevelHH: {Value: 2 * oel, Severity: SeverityCritical},
		}, nil
	case PresetOxygen:
		return map[string]config.Level{
			LevelH: {Value: 23.5, Severity: SeverityHigh},
			LevelL: {Value: 19.5, Severity: SeverityHigh},
		}, nil
	case PresetHydrant:
		switch c.Hydrant {
		case "", HydrantMunicipal:
			return map[string]config.Level{
				LevelL:  {Value: 0.14, Severity: SeverityMedium},
				LevelLL: {Value: 0.10, Severity: SeverityHigh},
			}, nil
		case HydrantIndoor:
			return map[string]config.Level{LevelL: {Value: 0.25, Severity: SeverityHigh}}, nil
		case HydrantIndoorHighRise:
			return map[string]config.Level{LevelL: {Value: 0.35, Severity: SeverityHigh}}, nil
		}
		return nil, fmt.Errorf("hydrant %q is not one of %s, %s, %s", c.Hydrant, HydrantMunicipal, HydrantIndoor, HydrantIndoorHighRise)
	}
	return nil, fmt.Errorf("unknown preset %q (one of %s, %s, %s, %s)", c.Preset,
		PresetCombustible, PresetToxic, PresetOxygen, PresetHydrant)
}

func gasNames() []string {
	var out []string
	for _, g := range ToxicGases {
		out = append(out, g.Formula)
	}
	sort.Strings(out)
	return slices.Compact(out)
}

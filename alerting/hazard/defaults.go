package hazard

import (
	"time"

	"hazgate/alerting"
	"hazgate/config"
)

// Documents the built-in rules cite as 判定依据.
const (
	// 安监总管三〔2017〕121号, item 12: 涉及可燃和有毒有害气体泄漏的场所未按国家标准
	// 设置检测报警装置. A detector that cannot detect is treated as not set.
	basisChemMajor = "《化工和危险化学品生产经营单位重大生产安全事故隐患判定标准（试行）》（安监总管三〔2017〕121号）第十二项：涉及可燃和有毒有害气体泄漏的场所未按国家标准设置检测报警装置"
	basisGDS       = "GB/T 50493-2019《石油化工可燃气体和有毒气体检测报警设计标准》5.5 报警值设定（二级报警）；《危险化学品企业安全风险隐患排查治理导则》（应急〔2019〕78号）"
	basisMajorSrc  = "《危险化学品重大危险源监督管理暂行规定》（原国家安全监管总局令第40号，第79号令修正）第十三条：重大危险源温度、压力、液位等参数的监测、预警"
	// GB 35181-2025 replaces GB 35181-2017 from 2025-11-01; its annex A
	// judges fire alarm and fixed extinguishing systems that cannot run.
	basisFireAlarm = "GB 35181-2025《重大火灾隐患判定规则》综合判定要素：火灾自动报警系统不能正常运行（判定见附录A）"
	basisHydrant   = "GB 50974-2014《消防给水及消火栓系统技术规范》7.2.8、7.4.12 消火栓压力；GB 35181-2025《重大火灾隐患判定规则》综合判定要素：消防给水及消火栓系统不能正常使用"
	basisPipe      = "TSG D0001-2009《压力管道安全技术监察规程——工业管道》：管道不得超过最高允许工作压力运行"
)

// DefaultRules is the built-in rule set, used when a config has no
// hazard_rules key. Classes and levels are those the alarm engine raises:
// quality alarms by class, limit alarms by level (GB/T 50493 level 2 is HH
// under the gb50493 presets), fire panel states by state name.
func DefaultRules() []config.HazardRule {
	const day = 24 * time.Hour
	down := []string{alerting.ClassCommLoss, alerting.ClassSensorFault, alerting.ClassBadQuality}
	rs := []config.HazardRule{
		{
			Name: "gas-detector-down", Match: config.Match{Kind: "combustible_gas"}, Classes: down,
			For: day, Category: "重大危险源", Level: LevelMajor,
			Description: "{area}{point}可燃气体检测报警装置通信中断或故障持续超过{for}，检测报警功能失效",
			Basis:       basisChemMajor,
			Measures:    "检修或更换探测器，恢复报警信号上传；恢复前落实人工巡检和便携式检测",
			Responsible: "仪表车间", Deadline: 3 * day,
		},
		{
			Name: "toxic-detector-down", Match: config.Match{Kind: "toxic_gas"}, Classes: down,
			For: day, Category: "重点监管危险化学品", Level: LevelMajor,
			Description: "{area}{point}有毒气体检测报警装置通信中断或故障持续超过{for}，检测报警功能失效",
			Basis:       basisChemMajor,
			Measures:    "检修或更换探测器，恢复报警信号上传；恢复前落实人工巡检和便携式检测",
			Responsible: "仪表车间", Deadline: 3 * day,
		},
		{
			Name: "gas-leak-recurring", Kinds: []string{"combustible_gas", "toxic_gas"},
			AlarmLevels: []string{alerting.LevelHH}, Count: 3, Within: 7 * day,
			Category: "重大危险源", Level: LevelGeneral,
			Description: "{area}{point}在{within}内{count}次达到二级报警，疑似反复泄漏",
			Basis:       basisGDS,
			Measures:    "排查泄漏点（法兰、阀门、密封），检修或更换密封件，校验探测器",
			Responsible: "设备车间", Deadline: 7 * day,
		},
		{
			Name: "major-hazard-hh", Kinds: []string{"level", "pressure", "temperature"}, MajorHazard: true,
			AlarmLevels: []string{alerting.LevelHH}, Immediate: true,
			Category: "重大危险源", Level: LevelGeneral,
			Description: "重大危险源{area}{point}参数达到高高报（{value}）",
			Basis:       basisMajorSrc,
			Measures:    "查明超限原因，调整工艺操作，检查联锁和紧急切断系统",
			Responsible: "生产车间", Deadline: 3 * day,
		},
		{
			Name: "fire-panel-fault", Match: config.Match{Kind: "fire_panel"},
			Classes: []string{"fault", alerting.ClassCommLoss}, For: day,
			Category: "火灾自动报警系统", Level: LevelGeneral,
			Description: "{area}{point}火灾报警控制器故障或通信中断持续超过{for}未恢复",
			Basis:       basisFireAlarm,
			Measures:    "由维保单位检修火灾报警控制器及故障回路，恢复系统正常运行",
			Responsible: "消防控制室", Deadline: 3 * day,
		},
		{
			Name: "hydrant-pressure-low", Match: config.Match{Kind: "hydrant_pressure"},
			AlarmLevels: []string{alerting.LevelL, alerting.LevelLL}, For: 2 * time.Hour,
			Category: "消防给水及消火栓", Level: LevelGeneral,
			Description: "{area}{point}消防给水压力低于设定值持续超过{for}",
			Basis:       basisHydrant,
			Measures:    "检查消防水泵、稳压设施、管网阀门及漏点，恢复管网压力",
			Responsible: "消防控制室", Deadline: 3 * day,
		},
		{
			Name: "pipe-overpressure", Match: config.Match{Kind: "pipe_pressure"},
			AlarmLevels: []string{alerting.LevelHH}, Immediate: true,
			Category: "压力管道", Level: LevelGeneral,
			Description: "{area}{point}压力管道超过最高允许工作压力（{value}）",
			Basis:       basisPipe,
			Measures:    "查明超压原因，检查安全阀、爆破片等安全附件，必要时停用并检验管道",
			Responsible: "设备车间", Deadline: 1 * day,
		},
	}
	// What the loader's default tags give a rule from a file.
	for i := range rs {
		rs[i].By, rs[i].NormalFor = "tag", day
	}
	return rs
}

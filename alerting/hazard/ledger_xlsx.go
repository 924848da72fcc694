package hazard

import (
	"fmt"
	"io"

	"hazgate/alerting/sheet"
)

// ledgerSheet is the XLSX ledger's one sheet.
const ledgerSheet = "隐患排查治理台账"

// ledgerWidths are the columns' widths in characters, for the text each
// usually holds (a description or a basis is long, a number short).
var ledgerWidths = map[string]float64{
	"序号": 6, "隐患编号": 24, "单位名称": 22, "隐患部位": 26, "隐患类别": 16, "隐患等级": 10, "隐患描述": 40, "判定依据": 40,
	"整改措施": 32, "整改资金": 12, "责任单位": 18, "责任人": 10, "发现时间": 17, "整改时限": 17, "整改完成时间": 17,
	"整改状态": 10, "验收人": 10, "验收时间": 17, "验收意见": 28, "销号时间": 17, "关联报警": 14, "挂牌督办": 9,
	"是否超期": 9, "备注": 28,
}

// WriteXLSX writes the ledger as an Excel workbook: the same columns and
// rows as WriteCSV (times in Beijing time), as sheet writes its tables.
func WriteXLSX(w io.Writer, hs []Hazard) error {
	widths := make([]float64, len(LedgerColumns))
	for c, name := range LedgerColumns {
		widths[c] = ledgerWidths[name]
	}
	t := sheet.Table{Name: ledgerSheet, Columns: LedgerColumns, Widths: widths, Rows: ledgerRows(hs)}
	if err := sheet.Write(w, t); err != nil {
		return fmt.Errorf("ledger %w", err)
	}
	return nil
}

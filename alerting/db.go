package alerting

import "database/sql"

// DB is the journal's database handle, for stores that keep their own
// tables in the same file (hazard records): one file to back up, and their
// transactions serialize with the journal's under one set of pragmas.
func (j *Journal) DB() *sql.DB { return j.db }

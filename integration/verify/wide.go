package verify

import (
	"database/sql"
	"fmt"
)

// The wide table is the shape of the bench's side-by-side runs (formats, Debezium Server) and the memory test: ten
// columns of the common kinds, so that every format pays for integers, text, decimals,
// floating point and times. Rows are made by the server (MariaDB's SEQUENCE engine), so
// that filling a million rows takes seconds, not the client's round trips.
const WideColumns = "id INT PRIMARY KEY, k BIGINT NOT NULL, name VARCHAR(64) NOT NULL, " +
	"amount DECIMAL(12,2) NOT NULL, price DOUBLE NOT NULL, qty INT NOT NULL, " +
	"created DATETIME(3) NOT NULL, flag TINYINT NOT NULL, note VARCHAR(255), " +
	"updated TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)"

// CreateWide makes table with rows rows (ids 1..rows).
func CreateWide(db *sql.DB, table string, rows int) error {
	if _, err := db.Exec("DROP TABLE IF EXISTS `" + table + "`"); err != nil {
		return err
	}
	if _, err := db.Exec("CREATE TABLE `" + table + "` (" + WideColumns + ")"); err != nil {
		return err
	}
	const chunk = 100000
	for lo := 1; lo <= rows; lo += chunk {
		hi := min(lo+chunk-1, rows)
		q := fmt.Sprintf("INSERT INTO `%s` (id, k, name, amount, price, qty, created, flag, note) "+
			"SELECT seq, seq*7, CONCAT('name-', seq), seq/100, seq*1.25, seq %% 1000, "+
			"TIMESTAMP('2026-01-01') + INTERVAL seq SECOND, seq %% 2, "+
			"CONCAT('a note of some length about row ', seq) FROM seq_%d_to_%d", table, lo, hi)
		if _, err := db.Exec(q); err != nil {
			return fmt.Errorf("fill %s %d..%d: %w", table, lo, hi, err)
		}
	}
	return nil
}

// UpdateWide writes n row changes to table (which holds at least rows rows) as UPDATEs of
// 1,000 rows per statement and transaction, wrapping around the ids; with the FULL row
// image each is one change with a before and an after image. It returns the changes
// written.
func UpdateWide(db *sql.DB, table string, rows, n int) (int, error) {
	const per = 1000
	done := 0
	for lo := 1; done < n; lo += per {
		if lo > rows {
			lo = 1
		}
		hi := min(lo+per-1, rows, lo+n-done-1)
		res, err := db.Exec(fmt.Sprintf("UPDATE `%s` SET k = k + 1, qty = qty + 1, amount = amount + 0.01 WHERE id BETWEEN %d AND %d", table, lo, hi))
		if err != nil {
			return done, err
		}
		c, _ := res.RowsAffected()
		done += int(c)
	}
	return done, nil
}

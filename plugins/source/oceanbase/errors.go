package oceanbase

import "errors"

// ErrRename is returned by Read when a synchronized table is renamed.
var ErrRename = errors.New("RENAME of a synchronized table is not supported")

// ErrSchemaOutOfStep is returned when binlog rows do not fit the schema read over SQL.
var ErrSchemaOutOfStep = errors.New("the schema read over SQL does not match the binlog")

// ErrTooOld is returned when start_timestamp is older than the oldest retained binlog.
var ErrTooOld = errors.New("start_timestamp is older than the oldest retained binlog")

// ErrSchemaUnknown is returned by Read when DDL on a synchronized table cannot be replayed, so
// the schema of the rows after it is unknown.
var ErrSchemaUnknown = errors.New("schema unknown")

// ErrPurged is returned by Read when binlog_address no longer has the log a position needs
// (purged by age or size, or the server's log was reset): the pipeline cannot resume there.
var ErrPurged = errors.New("the binlog this position needs is no longer on the server")

func isNoTable(err error) bool { return errors.Is(err, ErrNoTable) }

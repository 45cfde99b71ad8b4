package change

// KeySep separates the values of a record key (AppendKey).
const KeySep = 0x01

// AppendKey appends the record key of c to dst: the canonical text of its key-column values
// (Table.KeyColumns) joined with KeySep, read from the row the change leaves (Row); nothing
// for changes without a row. The host fills every record's key with it (unless the objects
// block's sharding columns name others), and serializers that print a key use it too.
func AppendKey(dst []byte, c *Change) []byte {
	if !c.Op.IsRow() || c.Table == nil {
		return dst
	}
	return AppendValuesText(dst, nil, c.Table.KeyColumns(), c.Row(), KeySep)
}

// AppendValuesText appends the text of the values of cols in row (Value.AppendText), joined
// with sep. With t nil each value prints canonically (fsp -1); else temporal values print with
// their column's fractional-second digits (Column.Fsp of t). Columns past the row's end
// append nothing between their separators.
func AppendValuesText(dst []byte, t *Table, cols []int, row []Value, sep byte) []byte {
	for n, i := range cols {
		if n > 0 {
			dst = append(dst, sep)
		}
		if i < len(row) {
			fsp := -1
			if t != nil {
				fsp = t.Columns[i].Fsp
			}
			dst = row[i].AppendText(dst, fsp)
		}
	}
	return dst
}

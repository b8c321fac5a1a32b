package data

import (
	"bytes"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
)

// readParquet reads every row of a Parquet file into a map of its columns. A row's "line" is its
// 1-based row number. parquet-go panics on some damaged files; that is turned into an error too.
func readParquet(data []byte, rd *reading) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &RecordError{File: rd.file, Reason: fmt.Sprintf("not a readable Parquet file: %v", p)}
		}
	}()
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return &RecordError{File: rd.file, Reason: "not a readable Parquet file: " + err.Error()}
	}
	r := parquet.NewReader(f)
	defer r.Close()
	for row := 1; ; row++ {
		fields := map[string]any{}
		if err := r.Read(&fields); err == io.EOF {
			return nil
		} else if err != nil {
			return &RecordError{File: rd.file, Line: row, Reason: "reading the Parquet row: " + err.Error()}
		}
		rd.good(row, fields)
	}
}

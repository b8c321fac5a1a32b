package tokenizer

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/qlora-studio/qlora-studio/internal/pyfloat"

	"github.com/nikolalohinski/gonja/v2/exec"
)

// pyJSON writes v as Python's json.dumps(v, ensure_ascii=False, indent=indent) does, which is what
// transformers' tojson filter calls; indent < 0 means none.
func pyJSON(b *strings.Builder, v any, indent, level int) error {
	if val, ok := v.(*exec.Value); ok {
		v = val.Interface()
	}
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(map[bool]string{true: "true", false: "false"}[x])
	case string:
		pyJSONString(b, x)
	case int:
		b.WriteString(strconv.Itoa(x))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case int32:
		b.WriteString(strconv.FormatInt(int64(x), 10))
	case float64:
		b.WriteString(pyfloat.Repr(x))
	case float32:
		b.WriteString(pyfloat.Repr(float64(x)))
	case *exec.Dict: // a dict written in the template: insertion order, as in Python
		return pyJSONContainer(b, "{", "}", len(x.Pairs), indent, level, func(i int) error {
			pyJSONString(b, x.Pairs[i].Key.String())
			b.WriteString(": ")
			return pyJSON(b, x.Pairs[i].Value, indent, level+1)
		})
	default:
		rv := reflect.ValueOf(v)
		switch rv.Kind() {
		case reflect.Slice, reflect.Array:
			items := make([]any, rv.Len())
			for i := range items {
				items[i] = rv.Index(i).Interface()
			}
			return pyJSONContainer(b, "[", "]", len(items), indent, level, func(i int) error {
				return pyJSON(b, items[i], indent, level+1)
			})
		case reflect.Map:
			keys := make([]string, 0, rv.Len())
			values := map[string]any{}
			for _, k := range rv.MapKeys() {
				ks := fmt.Sprint(k.Interface())
				keys = append(keys, ks)
				values[ks] = rv.MapIndex(k).Interface()
			}
			keyOrder(keys)
			return pyJSONContainer(b, "{", "}", len(keys), indent, level, func(i int) error {
				pyJSONString(b, keys[i])
				b.WriteString(": ")
				return pyJSON(b, values[keys[i]], indent, level+1)
			})
		default:
			return fmt.Errorf("tojson: cannot serialize %T", v)
		}
	}
	return nil
}

func pyJSONContainer(b *strings.Builder, open, close string, n, indent, level int, item func(int) error) error {
	b.WriteString(open)
	if n == 0 {
		b.WriteString(close)
		return nil
	}
	for i := 0; i < n; i++ {
		switch {
		case indent >= 0:
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString("\n" + strings.Repeat(" ", indent*(level+1)))
		case i > 0:
			b.WriteString(", ")
		}
		if err := item(i); err != nil {
			return err
		}
	}
	if indent >= 0 {
		b.WriteString("\n" + strings.Repeat(" ", indent*level))
	}
	b.WriteString(close)
	return nil
}

func pyJSONString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			if r < 0x20 {
				fmt.Fprintf(b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}

// strftime formats t with Python's (C's) strftime directives, the common ones.
func strftime(t time.Time, format string) string {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		if format[i] != '%' || i+1 == len(format) {
			b.WriteByte(format[i])
			continue
		}
		i++
		switch format[i] {
		case 'Y':
			fmt.Fprintf(&b, "%04d", t.Year())
		case 'y':
			fmt.Fprintf(&b, "%02d", t.Year()%100)
		case 'm':
			fmt.Fprintf(&b, "%02d", int(t.Month()))
		case 'd':
			fmt.Fprintf(&b, "%02d", t.Day())
		case 'e':
			fmt.Fprintf(&b, "%2d", t.Day())
		case 'H':
			fmt.Fprintf(&b, "%02d", t.Hour())
		case 'I':
			fmt.Fprintf(&b, "%02d", (t.Hour()+11)%12+1)
		case 'M':
			fmt.Fprintf(&b, "%02d", t.Minute())
		case 'S':
			fmt.Fprintf(&b, "%02d", t.Second())
		case 'p':
			b.WriteString(map[bool]string{true: "AM", false: "PM"}[t.Hour() < 12])
		case 'b', 'h':
			b.WriteString(t.Month().String()[:3])
		case 'B':
			b.WriteString(t.Month().String())
		case 'a':
			b.WriteString(t.Weekday().String()[:3])
		case 'A':
			b.WriteString(t.Weekday().String())
		case 'j':
			fmt.Fprintf(&b, "%03d", t.YearDay())
		case 'Z':
			name, _ := t.Zone()
			b.WriteString(name)
		case 'z':
			b.WriteString(t.Format("-0700"))
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(format[i])
		}
	}
	return b.String()
}

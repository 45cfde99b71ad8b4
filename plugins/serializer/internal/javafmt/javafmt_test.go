package javafmt

import (
	"bufio"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestEdgeValues(t *testing.T) {
	for _, c := range []struct {
		f    float64
		want string
	}{
		{0, "0.0"}, {math.Copysign(0, -1), "-0.0"}, {1, "1.0"}, {-1, "-1.0"}, {0.1, "0.1"},
		{100, "100.0"}, {1e-3, "0.001"}, {9.999e-4, "9.999E-4"}, {1e7, "1.0E7"}, {9999999, "9999999.0"},
		{1234567, "1234567.0"}, {123456789, "1.23456789E8"}, {1e-7, "1.0E-7"}, {-1.5e-7, "-1.5E-7"},
		{0.01, "0.01"}, {12345.678, "12345.678"}, {1e21, "1.0E21"}, {1e23, "1.0E23"}, {2e23, "2.0E23"}, /* JDK 17: 1.9999999999999998E23 */
		{math.MaxFloat64, "1.7976931348623157E308"}, {-2.2250738585072014e-308, "-2.2250738585072014E-308"},
		{5e-324, "4.9E-324"}, {1e-323, "9.9E-324"}, {math.NaN(), "NaN"}, {math.Inf(1), "Infinity"}, {math.Inf(-1), "-Infinity"},
	} {
		if got := string(AppendDouble(nil, c.f)); got != c.want {
			t.Errorf("AppendDouble(%v) = %s, want %s", c.f, got, c.want)
		}
	}
	for _, c := range []struct {
		f    float32
		want string
	}{
		{0, "0.0"}, {1, "1.0"}, {0.1, "0.1"}, {3.25, "3.25"}, {1e-7, "1.0E-7"}, {1e7, "1.0E7"}, {9999999, "9999999.0"},
		{math.SmallestNonzeroFloat32, "1.4E-45"}, {math.MaxFloat32, "3.4028235E38"}, {16777216, "1.6777216E7"},
		{1.17549435e-38, "1.1754944E-38"} /* JDK 17: 1.17549435E-38 */, {123.456, "123.456"},
	} {
		if got := string(AppendFloat(nil, c.f)); got != c.want {
			t.Errorf("AppendFloat(%v) = %s, want %s", c.f, got, c.want)
		}
	}
}

// TestJDK compares with the output of Double.toString and Float.toString of JDK 25 for
// about 10000 values: random bit patterns, round decimals at many scales and the edges.
// testdata/jdk25.txt was written by testdata/Gen.java.txt ("d|f <hex bits> <text>").
func TestJDK(t *testing.T) {
	f, err := os.Open("testdata/jdk25.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		parts := strings.Fields(sc.Text())
		if len(parts) != 3 {
			t.Fatalf("bad line %q", sc.Text())
		}
		bits, err := strconv.ParseUint(parts[1], 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		var got string
		if parts[0] == "d" {
			got = string(AppendDouble(nil, math.Float64frombits(bits)))
		} else {
			got = string(AppendFloat(nil, math.Float32frombits(uint32(bits))))
		}
		if got != parts[2] {
			t.Errorf("%s %s: got %s, Java %s", parts[0], parts[1], got, parts[2])
		}
		n++
	}
	if n < 9000 {
		t.Fatalf("only %d values", n)
	}
}

func BenchmarkAppendDouble(b *testing.B) {
	buf := make([]byte, 0, 32)
	for i := 0; i < b.N; i++ {
		buf = AppendDouble(buf[:0], 0.1+float64(i))
	}
}

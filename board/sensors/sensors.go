// Package sensors reads the board's own sensors for telemetry: the SoC
// temperature from the kernel's thermal zone.
package sensors

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"periph.io/x/conn/v3/physic"
)

// DefaultThermalZone is the SoC thermal zone on the Raspberry Pi and most
// ARM boards.
const DefaultThermalZone = "/sys/class/thermal/thermal_zone0/temp"

// ErrBadReading means the thermal zone file did not hold a plausible
// temperature.
var ErrBadReading = errors.New("sensors: bad temperature reading")

// Plausible bounds of a SoC temperature in millidegrees Celsius; anything
// outside is a broken sensor or a wrong file, not a reading.
const (
	minMilliC = -60_000
	maxMilliC = 200_000
)

// ParseMilliCelsius parses the content of a thermal zone "temp" file: an
// integer in millidegrees Celsius and a newline.
func ParseMilliCelsius(b []byte) (physic.Temperature, error) {
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" || len(s) > 12 {
		return 0, fmt.Errorf("%w: %q", ErrBadReading, s)
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrBadReading, err)
	}
	if v < minMilliC || v > maxMilliC {
		return 0, fmt.Errorf("%w: %d m°C out of range", ErrBadReading, v)
	}
	return physic.ZeroCelsius + physic.Temperature(v)*physic.MilliCelsius, nil
}

// SoCTemperature reads the thermal zone file at path ("" means
// DefaultThermalZone).
func SoCTemperature(path string) (physic.Temperature, error) {
	if path == "" {
		path = DefaultThermalZone
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("sensors: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 64))
	if err != nil {
		return 0, fmt.Errorf("sensors: read %s: %w", path, err)
	}
	return ParseMilliCelsius(b)
}

// Celsius converts t to degrees Celsius for telemetry.
func Celsius(t physic.Temperature) float64 {
	return float64(t-physic.ZeroCelsius) / float64(physic.Celsius)
}

package config

// Load is NewViper, ReadFile (when path is not empty) and FromViper in
// one call, for callers that bind no flags.
func Load(path string) (*Plan, error) {
	v := NewViper()
	if path != "" {
		if err := ReadFile(v, path); err != nil {
			return nil, err
		}
	}
	return FromViper(v)
}

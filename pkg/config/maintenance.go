package config

// Maintenance is the maintenance: section of the global file.
type Maintenance struct {
	// Allow are client networks (CIDRs or addresses) that still reach the backend of a route
	// in maintenance, on every route and for every window (the admin's range, a monitoring
	// probe); a window's own allow list adds to it.
	Allow PrefixList `yaml:"allow"`
}

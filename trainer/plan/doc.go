// Package plan is the memory planner: before a run starts it counts, component by component, the
// bytes the chosen backend will allocate, so a run that cannot fit is refused up front.
package plan

// Package docs holds no code: its tests keep the repository's own
// documents true (every file the README's map of a decision names exists).
package docs

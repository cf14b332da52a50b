package smh

// SetTokenWaitHook makes c call f each time a caller joins a token request already under way, so tests
// can release a held token request only once every caller is waiting on it.
func SetTokenWaitHook(c *Client, f func()) { c.onTokenWait = f }

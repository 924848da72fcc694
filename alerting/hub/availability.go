package hub

import "time"

// Day is one calendar day of a site's 在线率 at the hub.
type Day struct {
	Date           string  `json:"date"` // YYYY-MM-DD in the day's zone
	OfflineSeconds float64 `json:"offline_seconds"`
	// Online is the share of the day's elapsed time (up to now) the site
	// was online; 在线率.
	Online  float64 `json:"online"`
	Outages int     `json:"outages"` // outages that began this day
}

// Availability cuts outages into the days of [from, to) in loc (Beijing
// time for regulators), up to now for the day in progress.
func Availability(outages []Outage, from, to, now time.Time, loc *time.Location) []Day {
	var out []Day
	y, m, d := from.In(loc).Date()
	for day := time.Date(y, m, d, 0, 0, 0, 0, loc); day.Before(to); day = day.AddDate(0, 0, 1) {
		end := day.AddDate(0, 0, 1)
		if now.Before(end) {
			end = now
		}
		if !end.After(day) {
			break
		}
		dd := Day{Date: day.Format("2006-01-02")}
		for _, o := range outages {
			until := now
			if o.Until != nil {
				until = *o.Until
			}
			s, e := o.Since, until
			if s.Before(day) {
				s = day
			}
			if e.After(end) {
				e = end
			}
			if e.After(s) {
				dd.OfflineSeconds += e.Sub(s).Seconds()
			}
			if !o.Since.Before(day) && o.Since.Before(end) {
				dd.Outages++
			}
		}
		dd.Online = 1 - dd.OfflineSeconds/end.Sub(day).Seconds()
		out = append(out, dd)
	}
	return out
}

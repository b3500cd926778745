package config

// cloud is one Microsoft cloud's endpoints: the authority host, the SMTP
// submission host and the scopes of app-only and delegated tokens.
type cloud struct {
	authority, smtp, appScope, delegatedScope string
}

// clouds is REFERENCE.md §B's table.
var clouds = map[string]cloud{
	"global": {
		authority:      "https://login.microsoftonline.com/",
		smtp:           "smtp.office365.com:587",
		appScope:       "https://outlook.office365.com/.default",
		delegatedScope: "https://outlook.office.com/SMTP.Send",
	},
	"usgov": {
		authority:      "https://login.microsoftonline.us/",
		smtp:           "outlook.office365.us:587",
		appScope:       "https://outlook.office365.us/.default",
		delegatedScope: "https://outlook.office365.us/SMTP.Send",
	},
	"usgov-dod": {
		authority:      "https://login.microsoftonline.us/",
		smtp:           "outlook-dod.office365.us:587",
		appScope:       "https://outlook-dod.office365.us/.default",
		delegatedScope: "https://outlook-dod.office365.us/SMTP.Send",
	},
	"china": {
		authority:      "https://login.partner.microsoftonline.cn/",
		smtp:           "smtp.partner.outlook.cn:587",
		appScope:       "https://partner.outlook.cn/.default",
		delegatedScope: "https://partner.outlook.cn/SMTP.Send",
	},
}

package mongostore

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"
)

// An IAM role replaces the URI's credentials with the MONGODB-AWS
// mechanism and a provider of the role's credentials; without one the
// URI's stay. It reads the AWS environment, so it runs alone.
func TestAWSIAMRoleClientOptions(t *testing.T) {
	isolateAWSEnv(t)
	uri := "mongodb://user:secret@db:27017/ditto?authSource=admin"
	co, err := ClientOptions(uri, Options{AWSIAMRole: &AWSIAMRole{Region: "eu-central-1",
		RoleARN: "arn:aws:iam::123456789012:role/ditto", SessionName: "dittoSession"}})
	if err != nil {
		t.Fatal(err)
	}
	if co.Auth == nil || co.Auth.AuthMechanism != "MONGODB-AWS" || co.Auth.AWSCredentialsProvider == nil ||
		co.Auth.Username != "" || co.Auth.Password != "" || co.Auth.AuthSource != "" {
		t.Errorf("auth %+v, want MONGODB-AWS with a provider and no user, password or source", co.Auth)
	}
	co, err = ClientOptions(uri, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if co.Auth == nil || co.Auth.AuthMechanism != "" || co.Auth.Username != "user" || co.Auth.AWSCredentialsProvider != nil {
		t.Errorf("auth without a role %+v, want the URI's", co.Auth)
	}
}

// The provider the driver gets assumes the role at STS with the process's
// own credentials, in the region, and hands the driver the role's
// credentials; it assumes the role again only when they are about to
// expire. STS is a local server speaking AssumeRole's XML, reached as the
// SDK's AWS_ENDPOINT_URL_STS, so the test sets variables and runs alone.
func TestAWSIAMRoleAssumesRole(t *testing.T) {
	sts := newFakeSTS(t)
	isolateAWSEnv(t)
	t.Setenv("AWS_ENDPOINT_URL_STS", sts.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDBASE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "base-secret")

	role := AWSIAMRole{Region: "eu-west-3", RoleARN: "arn:aws:iam::123456789012:role/ditto-mongo", SessionName: "dittoSession"}
	co, err := ClientOptions("mongodb://cluster0.example.mongodb.net/ditto", Options{AWSIAMRole: &role})
	if err != nil {
		t.Fatal(err)
	}
	// What the driver's MONGODB-AWS authenticator reads its credentials from.
	driverProvider := topology.ConvertCreds(co.Auth).AWSCredentialsProvider
	ctx := context.Background()

	// The first credentials expire within the refresh window: the next
	// connection makes the provider assume the role again.
	sts.expires(time.Now().Add(2 * time.Minute))
	got, err := driverProvider.Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.AccessKeyID != "ASIAROLE1" || got.SecretAccessKey != "role-secret-1" || got.SessionToken != "role-token-1" {
		t.Errorf("first credentials %+v, want the role's first", got)
	}
	later := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	sts.expires(later)
	got, err = driverProvider.Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.AccessKeyID != "ASIAROLE2" || got.SecretAccessKey != "role-secret-2" || got.SessionToken != "role-token-2" {
		t.Errorf("renewed credentials %+v, want the role's second", got)
	}
	if !got.CanExpire || !got.Expires.Equal(later.Add(-awsExpiryWindow)) {
		t.Errorf("expires %v (can expire %v), want %v: the refresh window before STS's expiry", got.Expires, got.CanExpire, later.Add(-awsExpiryWindow))
	}
	// Valid for an hour: cached, STS is not asked again.
	if got, err = driverProvider.Retrieve(ctx); err != nil || got.AccessKeyID != "ASIAROLE2" {
		t.Errorf("cached credentials %+v, %v", got, err)
	}

	reqs := sts.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d AssumeRole requests, want 2", len(reqs))
	}
	for _, r := range reqs {
		if r.form["Action"] != "AssumeRole" || r.form["RoleArn"] != role.RoleARN || r.form["RoleSessionName"] != role.SessionName {
			t.Errorf("request %v, want AssumeRole of %s as %s", r.form, role.RoleARN, role.SessionName)
		}
		// Signed with the process's credentials for STS in the region.
		if !strings.Contains(r.authorization, "Credential=AKIDBASE/") || !strings.Contains(r.authorization, "/eu-west-3/sts/aws4_request") {
			t.Errorf("authorization %q, want AKIDBASE's signature for sts in eu-west-3", r.authorization)
		}
	}
}

// Without MONGO_DB_AWS_REGION and no region anywhere else, start-up fails
// naming the variable; AWS_REGION is the SDK's fallback, as in Ditto.
func TestAWSIAMRoleRegion(t *testing.T) {
	isolateAWSEnv(t)
	role := AWSIAMRole{RoleARN: "arn:aws:iam::123456789012:role/ditto", SessionName: "dittoSession"}
	if _, err := ClientOptions("mongodb://db", Options{AWSIAMRole: &role}); err == nil || !strings.Contains(err.Error(), "MONGO_DB_AWS_REGION") {
		t.Errorf("no region: %v, want an error naming MONGO_DB_AWS_REGION", err)
	}
	t.Setenv("AWS_REGION", "ap-southeast-2")
	p, err := role.provider(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if p.creds == nil {
		t.Error("no provider with AWS_REGION")
	}
}

// isolateAWSEnv keeps the developer's AWS settings out of a test: no
// shared files, no profile, no instance metadata, no web identity.
func isolateAWSEnv(t *testing.T) {
	t.Helper()
	none := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE": none, "AWS_SHARED_CREDENTIALS_FILE": none, "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_PROFILE": "", "AWS_DEFAULT_PROFILE": "", "AWS_REGION": "", "AWS_DEFAULT_REGION": "",
		"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "",
		"AWS_ROLE_ARN": "", "AWS_WEB_IDENTITY_TOKEN_FILE": "", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "", "AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_STS": "",
	} {
		t.Setenv(k, v)
	}
}

// fakeSTS answers AssumeRole with numbered credentials that expire when
// told, and records the requests.
type fakeSTS struct {
	*httptest.Server
	mu     sync.Mutex // guards expiry and reqs
	expiry time.Time
	reqs   []stsRequest
}

type stsRequest struct {
	form          map[string]string
	authorization string
}

func newFakeSTS(t *testing.T) *fakeSTS {
	t.Helper()
	f := &fakeSTS{}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeSTS) expires(at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.expiry = at
}

func (f *fakeSTS) requests() []stsRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]stsRequest(nil), f.reqs...)
}

func (f *fakeSTS) serve(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	form := map[string]string{}
	for k := range r.PostForm {
		form[k] = r.PostForm.Get(k)
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, stsRequest{form: form, authorization: r.Header.Get("Authorization")})
	n, expiry := len(f.reqs), f.expiry
	f.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <Credentials>
      <AccessKeyId>ASIAROLE%[1]d</AccessKeyId>
      <SecretAccessKey>role-secret-%[1]d</SecretAccessKey>
      <SessionToken>role-token-%[1]d</SessionToken>
      <Expiration>%[2]s</Expiration>
    </Credentials>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/ditto-mongo/%[3]s</Arn>
      <AssumedRoleId>AROAEXAMPLE:%[3]s</AssumedRoleId>
    </AssumedRoleUser>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>req-%[1]d</RequestId></ResponseMetadata>
</AssumeRoleResponse>`, n, expiry.UTC().Format(time.RFC3339), form["RoleSessionName"])
}

package platform

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/dittonats/dittonats/services/internal/mongostore"
)

// MONGO_DB_USE_AWS_IAM_ROLE and its three settings reach the store's
// options and make the driver authenticate with MONGODB-AWS; off by
// default. Building the driver options reads the AWS environment, so the
// test sets it and runs alone.
func TestMongoAWSIAMRole(t *testing.T) {
	none := filepath.Join(t.TempDir(), "none")
	for _, k := range []string{"AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"} {
		t.Setenv(k, none)
	}
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")

	cfg, err := LoadEnv(nil)
	if err != nil {
		t.Fatal(err)
	}
	o, err := cfg.Infra.mongoOptions()
	if err != nil || o.AWSIAMRole != nil {
		t.Fatalf("default: role %+v, %v; want none", o.AWSIAMRole, err)
	}

	const arn = "arn:aws:iam::123456789012:role/ditto-mongo"
	for _, c := range []struct {
		name string
		env  []string
		want mongostore.AWSIAMRole
	}{
		{"every variable", []string{"MONGO_DB_USE_AWS_IAM_ROLE=true", "MONGO_DB_AWS_REGION=eu-central-1",
			"MONGO_DB_AWS_ROLE_ARN=" + arn, "MONGO_DB_AWS_SESSION_NAME=things-1"},
			mongostore.AWSIAMRole{Region: "eu-central-1", RoleARN: arn, SessionName: "things-1"}},
		{"Ditto's default session name", []string{"MONGO_DB_USE_AWS_IAM_ROLE=true", "MONGO_DB_AWS_REGION=us-gov-west-1",
			"MONGO_DB_AWS_ROLE_ARN=" + arn},
			mongostore.AWSIAMRole{Region: "us-gov-west-1", RoleARN: arn, SessionName: "dittoSession"}},
	} {
		cfg, err := LoadEnv(c.env)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if err := cfg.Infra.Validate(); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		o, err := cfg.Infra.mongoOptions()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if o.AWSIAMRole == nil || *o.AWSIAMRole != c.want {
			t.Errorf("%s: role %+v, want %+v", c.name, o.AWSIAMRole, c.want)
		}
		co, err := mongostore.ClientOptions("mongodb://user:pw@cluster0.example.mongodb.net/ditto", o)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if co.Auth == nil || co.Auth.AuthMechanism != "MONGODB-AWS" || co.Auth.AWSCredentialsProvider == nil || co.Auth.Username != "" {
			t.Errorf("%s: driver auth %+v, want MONGODB-AWS with the role's provider", c.name, co.Auth)
		}
	}
}

// A bad AWS IAM setting stops start-up naming its variable; without
// MONGO_DB_USE_AWS_IAM_ROLE the others are not checked.
func TestMongoAWSIAMRoleValidation(t *testing.T) {
	t.Parallel()
	const arn = "MONGO_DB_AWS_ROLE_ARN=arn:aws:iam::123456789012:role/ditto"
	for _, c := range []struct {
		name string
		env  []string
		want string
	}{
		{"no role", []string{"MONGO_DB_USE_AWS_IAM_ROLE=true", "MONGO_DB_AWS_REGION=eu-central-1"}, "MONGO_DB_AWS_ROLE_ARN"},
		{"not an ARN", []string{"MONGO_DB_USE_AWS_IAM_ROLE=true", "MONGO_DB_AWS_ROLE_ARN=ditto"}, "MONGO_DB_AWS_ROLE_ARN"},
		{"bad region", []string{"MONGO_DB_USE_AWS_IAM_ROLE=true", arn, "MONGO_DB_AWS_REGION=Frankfurt"}, "MONGO_DB_AWS_REGION"},
		{"empty session name", []string{"MONGO_DB_USE_AWS_IAM_ROLE=true", arn, "MONGO_DB_AWS_SESSION_NAME="}, "MONGO_DB_AWS_SESSION_NAME"},
		{"session name with a space", []string{"MONGO_DB_USE_AWS_IAM_ROLE=true", arn, "MONGO_DB_AWS_SESSION_NAME=ditto session"}, "MONGO_DB_AWS_SESSION_NAME"},
		{"not a boolean", []string{"MONGO_DB_USE_AWS_IAM_ROLE=yes please"}, "MONGO_DB_USE_AWS_IAM_ROLE"},
	} {
		cfg, err := LoadEnv(c.env)
		if err == nil {
			err = cfg.Infra.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming %s", c.name, err, c.want)
		}
	}
	cfg, err := LoadEnv([]string{"MONGO_DB_USE_AWS_IAM_ROLE=false", "MONGO_DB_AWS_ROLE_ARN=ditto", "MONGO_DB_AWS_REGION=Frankfurt"})
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Infra.Validate(); err != nil {
		t.Errorf("disabled: %v", err)
	}
}

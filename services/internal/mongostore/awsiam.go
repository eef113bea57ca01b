package mongostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// MongoDBAWS is the driver's authentication mechanism for AWS IAM.
const MongoDBAWS = "MONGODB-AWS"

// awsExpiryWindow is how long before the assumed role's credentials expire
// they are renewed, so that no connection authenticates with credentials
// about to lapse; the driver uses the same window for its own providers.
const awsExpiryWindow = 5 * time.Minute

// AWSIAMRole authenticates with MongoDB (Atlas) as an AWS IAM role, as
// Ditto's MONGO_DB_USE_AWS_IAM_ROLE does: the process's own AWS credentials
// (the SDK's default chain: environment, shared files, web identity of an
// EKS service account, ECS, EC2) assume RoleARN through STS, and the
// driver's MONGODB-AWS mechanism signs with the role's temporary
// credentials, which are renewed before they expire.
type AWSIAMRole struct {
	// Region of STS (MONGO_DB_AWS_REGION); empty uses the SDK's: AWS_REGION,
	// AWS_DEFAULT_REGION, the shared config's profile, EC2 instance metadata.
	Region string
	// RoleARN is the role to assume (MONGO_DB_AWS_ROLE_ARN).
	RoleARN string
	// SessionName names the role session (MONGO_DB_AWS_SESSION_NAME).
	SessionName string
}

// credential is the driver credential that authenticates as r.
func (r AWSIAMRole) credential(ctx context.Context, optFns ...func(*config.LoadOptions) error) (options.Credential, error) {
	p, err := r.provider(ctx, optFns...)
	if err != nil {
		return options.Credential{}, err
	}
	return options.Credential{AuthMechanism: MongoDBAWS, AWSCredentialsProvider: p}, nil
}

// provider loads the SDK's default configuration (reading the environment
// and the shared files; no request is sent until the first Retrieve) and
// returns the cached AssumeRole credentials over it. optFns come after the
// defaults, for tests.
func (r AWSIAMRole) provider(ctx context.Context, optFns ...func(*config.LoadOptions) error) (awsProvider, error) {
	opts := []func(*config.LoadOptions) error{config.WithEC2IMDSRegion()}
	if r.Region != "" {
		opts = append(opts, config.WithRegion(r.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, append(opts, optFns...)...)
	switch {
	case err != nil && r.Region == "":
		return awsProvider{}, fmt.Errorf("MONGO_DB_AWS_REGION: empty, and no region from AWS_REGION, the shared config or the instance metadata: %w", err)
	case err != nil:
		return awsProvider{}, fmt.Errorf("MONGO_DB_USE_AWS_IAM_ROLE: load aws configuration: %w", err)
	case cfg.Region == "":
		return awsProvider{}, errors.New("MONGO_DB_AWS_REGION: empty, and no region from AWS_REGION, the shared config or the instance metadata")
	}
	assume := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), r.RoleARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = r.SessionName
	})
	return awsProvider{aws.NewCredentialsCache(assume, func(o *aws.CredentialsCacheOptions) {
		o.ExpiryWindow = awsExpiryWindow
	})}, nil
}

// awsProvider adapts an SDK credentials provider to the driver's (what
// the driver's ext/awsauth module does, without the extra module).
type awsProvider struct {
	creds aws.CredentialsProvider
}

// Retrieve returns the cached credentials, assuming the role again when
// they are within awsExpiryWindow of expiring. Expires is moved earlier by
// that window, so the driver's own cache renews in time too.
func (p awsProvider) Retrieve(ctx context.Context) (options.AWSCredentials, error) {
	c, err := p.creds.Retrieve(ctx)
	if err != nil {
		return options.AWSCredentials{}, fmt.Errorf("assume aws iam role: %w", err)
	}
	return options.AWSCredentials{
		AccessKeyID:     c.AccessKeyID,
		SecretAccessKey: c.SecretAccessKey,
		SessionToken:    c.SessionToken,
		Source:          c.Source,
		CanExpire:       c.CanExpire,
		Expires:         c.Expires,
		AccountID:       c.AccountID,
	}, nil
}

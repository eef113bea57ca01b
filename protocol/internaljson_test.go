package protocol

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// internalResponseCase is a reply from Ditto's protocol examples and the
// internal response JSON Ditto's response toJson writes for it. In want,
// $value stands for the reply's value and $plain for it as a JSON string.
type internalResponseCase struct {
	example string
	want    string
}

// internalCase is a command in Ditto's internal JSON (as its toJson
// writes it; $value stands for the value of the example's message) and
// the Ditto Protocol example of the same command.
type internalCase struct {
	cmd     string
	example string
	// topic is the expected topic where the example's topic names another
	// entity than its value (Ditto's documentation is not consistent
	// there); "" means the example's.
	topic     string
	responses []internalResponseCase
}

const (
	fancyThing = `"thingId":"org.eclipse.ditto:fancy-thing"`
	thePolicy  = `"policyId":"org.eclipse.ditto:the_policy_id"`
	theLabel   = thePolicy + `,"label":"the_label"`
)

func thingCmd(name, fields string) string {
	return `{"type":"things.commands:` + name + `",` + fields + `}`
}

func thingResp(name string, status int, fields string) string {
	return `{"type":"things.responses:` + name + `","status":` + itoa(status) + `,` + fields + `}`
}

func policyCmd(name, fields string) string {
	return `{"type":"policies.commands:` + name + `",` + fields + `}`
}

func policyResp(name string, status int, fields string) string {
	return `{"type":"policies.responses:` + name + `","status":` + itoa(status) + `,` + fields + `}`
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

var internalCases = []internalCase{
	// Things.
	{cmd: thingCmd("createThing", `"thing":$value`), example: "things/commands/modify/creatething.json",
		topic: "org.eclipse.ditto/fancy-thing_53/things/twin/commands/create",
		responses: []internalResponseCase{{"things/commands/modify/createthingresponse.json",
			`{"type":"things.responses:createThing","status":201,"thing":$value}`}}},
	{cmd: thingCmd("modifyThing", `"thingId":"org.eclipse.ditto:fancy-thing_53","thing":$value`), example: "things/commands/modify/modifything.json",
		topic: "org.eclipse.ditto/fancy-thing_53/things/twin/commands/modify",
		responses: []internalResponseCase{
			{"things/commands/modify/modifythingresponsecreated.json", thingResp("modifyThing", 201, `"thingId":"org.eclipse.ditto:fancy-thing_53","thing":$value`)},
			{"things/commands/modify/modifythingresponse.json", thingResp("modifyThing", 204, `"thingId":"org.eclipse.ditto:fancy-thing_53"`)},
		}},
	{cmd: thingCmd("retrieveThing", fancyThing), example: "things/commands/query/retrievething.json",
		responses: []internalResponseCase{{"things/commands/query/retrievethingresponse.json",
			thingResp("retrieveThing", 200, fancyThing+`,"thingPlainJson":$plain`)}}},
	{cmd: thingCmd("retrieveThing", fancyThing+`,"selectedFields":"thingId,attributes(location)"`),
		example: "things/commands/query/retrievething-withfieldselector.json"},
	{cmd: thingCmd("retrieveThings", `"thingIds":["org.eclipse.ditto:fancy-thing_53","org.eclipse.ditto:fancy-thing_58","org.eclipse.ditto:fancy-thing_67"]`),
		example: "things/commands/query/retrievethings.json",
		responses: []internalResponseCase{{"things/commands/query/retrievethingsresponse.json",
			`{"type":"things.responses:retrieveThings","status":200,"thingsPlainJson":$plain}`}}},
	{cmd: thingCmd("retrieveThings", `"thingIds":["org.eclipse.ditto:fancy-thing_53","org.eclipse.ditto:fancy-thing_58","org.eclipse.ditto:fancy-thing_67"],"selectedFields":"thingId,attributes(location)"`),
		example: "things/commands/query/retrievethings-withfieldselector.json"},
	{cmd: thingCmd("deleteThing", fancyThing), example: "things/commands/modify/deletething.json",
		responses: []internalResponseCase{{"things/commands/modify/deletethingresponse.json", thingResp("deleteThing", 204, fancyThing)}}},
	{cmd: thingCmd("mergeThing", `"thingId":"org.eclipse.ditto:fancy-thing_53","path":"/","value":$value`), example: "things/commands/merge/mergething.json",
		responses: []internalResponseCase{{"things/commands/merge/mergethingresponse.json",
			thingResp("mergeThing", 204, `"thingId":"org.eclipse.ditto:fancy-thing_53","path":"/"`)}}},
	{cmd: thingCmd("mergeThing", fancyThing+`,"path":"definition","value":$value`), example: "things/commands/merge/mergethingdefinition.json",
		responses: []internalResponseCase{{"things/commands/merge/mergethingdefinitionresponse.json",
			thingResp("mergeThing", 204, fancyThing+`,"path":"/definition"`)}}},

	{cmd: thingCmd("modifyAttributes", fancyThing+`,"attributes":$value`), example: "things/commands/modify/modifyattributes.json",
		responses: []internalResponseCase{
			{"things/commands/modify/modifyattributesresponsecreated.json", thingResp("modifyAttributes", 201, fancyThing+`,"attributes":$value`)},
			{"things/commands/modify/modifyattributesresponse.json", thingResp("modifyAttributes", 204, fancyThing+`,"attributes":null`)},
		}},
	{cmd: thingCmd("retrieveAttributes", fancyThing), example: "things/commands/query/retrieveattributes.json",
		responses: []internalResponseCase{{"things/commands/query/retrieveattributesresponse.json",
			thingResp("retrieveAttributes", 200, fancyThing+`,"attributes":$value`)}}},
	{cmd: thingCmd("retrieveAttributes", fancyThing+`,"selectedFields":"attributes"`), example: "things/commands/query/retrieveattributes-selectedfields.json"},
	{cmd: thingCmd("deleteAttributes", fancyThing), example: "things/commands/modify/deleteattributes.json",
		responses: []internalResponseCase{{"things/commands/modify/deleteattributesresponse.json", thingResp("deleteAttributes", 204, fancyThing)}}},
	{cmd: thingCmd("modifyAttribute", fancyThing+`,"attribute":"/location","value":$value`), example: "things/commands/modify/modifyattribute.json",
		responses: []internalResponseCase{
			{"things/commands/modify/modifyattributeresponsecreated.json", thingResp("modifyAttribute", 201, fancyThing+`,"attribute":"/location","value":$value`)},
			{"things/commands/modify/modifyattributeresponse.json", thingResp("modifyAttribute", 204, fancyThing+`,"attribute":"/location"`)},
		}},
	{cmd: thingCmd("retrieveAttribute", fancyThing+`,"attribute":"location"`), example: "things/commands/query/retrieveattribute.json",
		responses: []internalResponseCase{{"things/commands/query/retrieveattributeresponse.json",
			thingResp("retrieveAttribute", 200, fancyThing+`,"attribute":"/location","value":$value`)}}},
	{cmd: thingCmd("deleteAttribute", fancyThing+`,"attribute":"/location/"`), example: "things/commands/modify/deleteattribute.json",
		responses: []internalResponseCase{{"things/commands/modify/deleteattributeresponse.json",
			thingResp("deleteAttribute", 204, fancyThing+`,"attribute":"/location"`)}}},

	{cmd: thingCmd("modifyDefinition", fancyThing+`,"definition":$value`), example: "things/commands/modify/modifythingdefinition.json",
		responses: []internalResponseCase{
			{"things/commands/modify/modifythingdefinitionresponsecreated.json", thingResp("modifyDefinition", 201, fancyThing+`,"definition":$value`)},
			{"things/commands/modify/modifythingdefinitionresponse.json", thingResp("modifyDefinition", 204, fancyThing)},
		}},
	{cmd: thingCmd("retrieveDefinition", fancyThing), example: "things/commands/query/retrievethingdefinition.json",
		responses: []internalResponseCase{{"things/commands/query/retrievethingdefinitionresponse.json",
			thingResp("retrieveDefinition", 200, fancyThing+`,"definition":$value`)}}},
	{cmd: thingCmd("deleteDefinition", fancyThing), example: "things/commands/modify/deletethingdefinition.json",
		responses: []internalResponseCase{{"things/commands/modify/deletethingdefinitionresponse.json", thingResp("deleteDefinition", 204, fancyThing)}}},

	{cmd: thingCmd("modifyPolicyId", fancyThing+`,"policyId":$value`), example: "things/commands/modify/modifypolicyid.json",
		responses: []internalResponseCase{
			{"things/commands/modify/modifypolicyidresponsecreated.json", thingResp("modifyPolicyId", 201, fancyThing+`,"policyId":$value`)},
			{"things/commands/modify/modifypolicyidresponsemodified.json", thingResp("modifyPolicyId", 204, fancyThing)},
		}},
	{cmd: thingCmd("retrievePolicyId", fancyThing), example: "things/commands/query/retrievepolicyid.json",
		responses: []internalResponseCase{{"things/commands/query/retrievepolicyidresponse.json",
			thingResp("retrievePolicyId", 200, fancyThing+`,"policyId":$value`)}}},

	{cmd: thingCmd("modifyFeatures", fancyThing+`,"features":$value`), example: "things/commands/modify/modifyfeatures.json",
		responses: []internalResponseCase{
			{"things/commands/modify/modifyfeaturesresponsecreated.json", thingResp("modifyFeatures", 201, fancyThing+`,"features":$value`)},
			{"things/commands/modify/modifyfeaturesresponse.json", thingResp("modifyFeatures", 204, fancyThing+`,"features":null`)},
		}},
	{cmd: thingCmd("retrieveFeatures", fancyThing), example: "things/commands/query/retrievefeatures.json",
		responses: []internalResponseCase{{"things/commands/query/retrievefeaturesresponse.json",
			thingResp("retrieveFeatures", 200, fancyThing+`,"features":$value`)}}},
	{cmd: thingCmd("deleteFeatures", fancyThing), example: "things/commands/modify/deletefeatures.json",
		responses: []internalResponseCase{{"things/commands/modify/deletefeaturesresponse.json", thingResp("deleteFeatures", 204, fancyThing)}}},
	{cmd: thingCmd("modifyFeature", fancyThing+`,"featureId":"accelerometer","feature":$value`), example: "things/commands/modify/modifyfeature.json",
		responses: []internalResponseCase{
			{"things/commands/modify/modifyfeatureresponsecreated.json", thingResp("modifyFeature", 201, fancyThing+`,"featureId":"accelerometer","feature":$value`)},
			{"things/commands/modify/modifyfeatureresponse.json", thingResp("modifyFeature", 204, fancyThing+`,"featureId":"accelerometer","feature":null`)},
		}},
	{cmd: thingCmd("retrieveFeature", fancyThing+`,"featureId":"accelerometer"`), example: "things/commands/query/retrievefeature.json",
		responses: []internalResponseCase{{"things/commands/query/retrievefeatureresponse.json",
			thingResp("retrieveFeature", 200, fancyThing+`,"featureId":"accelerometer","feature":$value`)}}},
	{cmd: thingCmd("deleteFeature", fancyThing+`,"featureId":"accelerometer"`), example: "things/commands/modify/deletefeature.json",
		responses: []internalResponseCase{{"things/commands/modify/deletefeatureresponse.json",
			thingResp("deleteFeature", 204, fancyThing+`,"featureId":"accelerometer"`)}}},

	{cmd: thingCmd("modifyFeatureDefinition", fancyThing+`,"featureId":"accelerometer","definition":$value`), example: "things/commands/modify/modifyfeaturedefinition.json",
		responses: []internalResponseCase{
			{"things/commands/modify/modifyfeaturedefinitionresponsecreated.json", thingResp("modifyFeatureDefinition", 201, fancyThing+`,"featureId":"accelerometer","definition":$value`)},
			{"things/commands/modify/modifyfeaturedefinitionresponse.json", thingResp("modifyFeatureDefinition", 204, fancyThing+`,"featureId":"accelerometer"`)},
		}},
	{cmd: thingCmd("retrieveFeatureDefinition", fancyThing+`,"featureId":"accelerometer"`), example: "things/commands/query/retrievefeaturedefinition.json",
		responses: []internalResponseCase{{"things/commands/query/retrievefeaturedefinitionresponse.json",
			thingResp("retrieveFeatureDefinition", 200, fancyThing+`,"featureId":"accelerometer","definition":$value`)}}},
	{cmd: thingCmd("deleteFeatureDefinition", fancyThing+`,"featureId":"accelerometer"`), example: "things/commands/modify/deletefeaturedefinition.json",
		responses: []internalResponseCase{{"things/commands/modify/deletefeaturedefinitionresponse.json",
			thingResp("deleteFeatureDefinition", 204, fancyThing+`,"featureId":"accelerometer"`)}}},

	{cmd: thingCmd("modifyFeatureProperties", fancyThing+`,"featureId":"accelerometer","properties":$value`), example: "things/commands/modify/modifyfeatureproperties.json",
		responses: []internalResponseCase{
			{"things/commands/modify/modifyfeaturepropertiesresponsecreated.json", thingResp("modifyFeatureProperties", 201, fancyThing+`,"featureId":"accelerometer","properties":$value`)},
			{"things/commands/modify/modifyfeaturepropertiesresponse.json", thingResp("modifyFeatureProperties", 204, fancyThing+`,"featureId":"accelerometer"`)},
		}},
	{cmd: thingCmd("retrieveFeatureProperties", fancyThing+`,"featureId":"accelerometer"`), example: "things/commands/query/retrievefeatureproperties.json",
		responses: []internalResponseCase{{"things/commands/query/retrievefeaturepropertiesresponse.json",
			thingResp("retrieveFeatureProperties", 200, fancyThing+`,"featureId":"accelerometer","properties":$value`)}}},
	{cmd: thingCmd("retrieveFeatureProperties", fancyThing+`,"featureId":"accelerometer","selectedFields":"properties/target_year_1"`),
		example: "things/commands/query/retrievefeatureproperties-selectedfields.json"},
	{cmd: thingCmd("deleteFeatureProperties", fancyThing+`,"featureId":"accelerometer"`), example: "things/commands/modify/deletefeatureproperties.json",
		responses: []internalResponseCase{{"things/commands/modify/deletefeaturepropertiesresponse.json",
			thingResp("deleteFeatureProperties", 204, fancyThing+`,"featureId":"accelerometer"`)}}},
	{cmd: thingCmd("modifyFeatureProperty", fancyThing+`,"featureId":"accelerometer","property":"x","value":$value`), example: "things/commands/modify/modifyfeatureproperty.json",
		responses: []internalResponseCase{
			{"things/commands/modify/modifyfeaturepropertyresponsecreated.json", thingResp("modifyFeatureProperty", 201, fancyThing+`,"featureId":"accelerometer","property":"/x","value":$value`)},
			{"things/commands/modify/modifyfeaturepropertyresponse.json", thingResp("modifyFeatureProperty", 204, fancyThing+`,"featureId":"accelerometer","property":"/x"`)},
		}},
	{cmd: thingCmd("retrieveFeatureProperty", fancyThing+`,"featureId":"accelerometer","property":"/x"`), example: "things/commands/query/retrievefeatureproperty.json",
		responses: []internalResponseCase{{"things/commands/query/retrievefeaturepropertyresponse.json",
			thingResp("retrieveFeatureProperty", 200, fancyThing+`,"featureId":"accelerometer","property":"/x","value":$value`)}}},
	{cmd: thingCmd("deleteFeatureProperty", fancyThing+`,"featureId":"accelerometer","property":"/x"`), example: "things/commands/modify/deletefeatureproperty.json",
		responses: []internalResponseCase{{"things/commands/modify/deletefeaturepropertyresponse.json",
			thingResp("deleteFeatureProperty", 204, fancyThing+`,"featureId":"accelerometer","property":"/x"`)}}},

	{cmd: thingCmd("modifyFeatureDesiredProperties", fancyThing+`,"featureId":"accelerometer","desiredProperties":$value`), example: "things/commands/modify/modifyfeaturedesiredproperties.json",
		responses: []internalResponseCase{
			{"things/commands/modify/modifyfeaturedesiredpropertiesresponsecreated.json", thingResp("modifyFeatureDesiredProperties", 201, fancyThing+`,"featureId":"accelerometer","desiredProperties":$value`)},
			{"things/commands/modify/modifyfeaturedesiredpropertiesresponse.json", thingResp("modifyFeatureDesiredProperties", 204, fancyThing+`,"featureId":"accelerometer"`)},
		}},
	{cmd: thingCmd("retrieveFeatureDesiredProperties", fancyThing+`,"featureId":"accelerometer"`), example: "things/commands/query/retrievefeaturedesiredproperties.json",
		responses: []internalResponseCase{{"things/commands/query/retrievefeaturedesiredpropertiesresponse.json",
			thingResp("retrieveFeatureDesiredProperties", 200, fancyThing+`,"featureId":"accelerometer","desiredProperties":$value`)}}},
	{cmd: thingCmd("retrieveFeatureDesiredProperties", fancyThing+`,"featureId":"accelerometer","selectedFields":"desiredProperties/target_year_1"`),
		example: "things/commands/query/retrievefeaturedesiredproperties-selectedfields.json"},
	{cmd: thingCmd("deleteFeatureDesiredProperties", fancyThing+`,"featureId":"accelerometer"`), example: "things/commands/modify/deletefeaturedesiredproperties.json",
		responses: []internalResponseCase{{"things/commands/modify/deletefeaturedesiredpropertiesresponse.json",
			thingResp("deleteFeatureDesiredProperties", 204, fancyThing+`,"featureId":"accelerometer"`)}}},
	{cmd: thingCmd("modifyFeatureDesiredProperty", fancyThing+`,"featureId":"accelerometer","desiredProperty":"x","desiredValue":$value`), example: "things/commands/modify/modifyfeaturedesiredproperty.json",
		responses: []internalResponseCase{
			{"things/commands/modify/modifyfeaturedesiredpropertyresponsecreated.json", thingResp("modifyFeatureDesiredProperty", 201, fancyThing+`,"featureId":"accelerometer","desiredProperty":"/x","desiredValue":$value`)},
			{"things/commands/modify/modifyfeaturedesiredpropertyresponse.json", thingResp("modifyFeatureDesiredProperty", 204, fancyThing+`,"featureId":"accelerometer","desiredProperty":"/x"`)},
		}},
	{cmd: thingCmd("retrieveFeatureDesiredProperty", fancyThing+`,"featureId":"accelerometer","desiredProperty":"/x"`), example: "things/commands/query/retrievefeaturedesiredproperty.json",
		responses: []internalResponseCase{{"things/commands/query/retrievefeaturedesiredpropertyresponse.json",
			thingResp("retrieveFeatureDesiredProperty", 200, fancyThing+`,"featureId":"accelerometer","desiredProperty":"/x","desiredValue":$value`)}}},
	{cmd: thingCmd("deleteFeatureDesiredProperty", fancyThing+`,"featureId":"accelerometer","desiredProperty":"/x"`), example: "things/commands/modify/deletefeaturedesiredproperty.json",
		responses: []internalResponseCase{{"things/commands/modify/deletefeaturedesiredpropertyresponse.json",
			thingResp("deleteFeatureDesiredProperty", 204, fancyThing+`,"featureId":"accelerometer","desiredProperty":"/x"`)}}},

	// Policies.
	{cmd: policyCmd("createPolicy", `"policy":$value`), example: "policies/commands/modify/createpolicy.json",
		responses: []internalResponseCase{{"policies/commands/modify/createpolicyresponse.json",
			policyResp("createPolicy", 201, thePolicy+`,"policy":$value`)}}},
	{cmd: policyCmd("modifyPolicy", thePolicy+`,"policy":$value`), example: "policies/commands/modify/modifypolicy.json",
		responses: []internalResponseCase{
			{"policies/commands/modify/modifypolicyresponsecreated.json", policyResp("modifyPolicy", 201, thePolicy+`,"policy":$value`)},
			{"policies/commands/modify/modifypolicyresponse.json", policyResp("modifyPolicy", 204, thePolicy)},
		}},
	{cmd: policyCmd("retrievePolicy", thePolicy), example: "policies/commands/query/retrievepolicy.json",
		responses: []internalResponseCase{{"policies/commands/query/retrievepolicyresponse.json",
			policyResp("retrievePolicy", 200, thePolicy+`,"policy":$value`)}}},
	{cmd: policyCmd("retrievePolicy", thePolicy+`,"selectedFields":"policyId,_revision"`), example: "policies/commands/query/retrievepolicy-withfieldselector.json"},
	{cmd: policyCmd("deletePolicy", thePolicy), example: "policies/commands/modify/deletepolicy.json",
		responses: []internalResponseCase{{"policies/commands/modify/deletepolicyresponse.json", policyResp("deletePolicy", 204, thePolicy)}}},
	{cmd: policyCmd("modifyPolicyEntries", thePolicy+`,"policyEntries":$value`), example: "policies/commands/modify/modifypolicyentries.json",
		responses: []internalResponseCase{{"policies/commands/modify/modifypolicyentriesresponse.json", policyResp("modifyPolicyEntries", 204, thePolicy)}}},
	{cmd: policyCmd("retrievePolicyEntries", thePolicy), example: "policies/commands/query/retrievepolicyentries.json",
		responses: []internalResponseCase{{"policies/commands/query/retrievepolicyentriesresponse.json",
			policyResp("retrievePolicyEntries", 200, thePolicy+`,"policyEntries":$value`)}}},
	{cmd: policyCmd("modifyPolicyEntry", theLabel+`,"policyEntry":$value`), example: "policies/commands/modify/modifypolicyentry.json",
		responses: []internalResponseCase{
			{"policies/commands/modify/modifypolicyentryresponsecreated.json", policyResp("modifyPolicyEntry", 201, theLabel+`,"policyEntry":$value`)},
			{"policies/commands/modify/modifypolicyentryresponse.json", policyResp("modifyPolicyEntry", 204, theLabel)},
		}},
	{cmd: policyCmd("retrievePolicyEntry", theLabel), example: "policies/commands/query/retrievepolicyentry.json",
		responses: []internalResponseCase{{"policies/commands/query/retrievepolicyentryresponse.json",
			policyResp("retrievePolicyEntry", 200, theLabel+`,"policyEntry":$value`)}}},
	{cmd: policyCmd("deletePolicyEntry", theLabel), example: "policies/commands/modify/deletepolicyentry.json",
		responses: []internalResponseCase{{"policies/commands/modify/deletepolicyentryresponse.json", policyResp("deletePolicyEntry", 204, theLabel)}}},
	{cmd: policyCmd("modifySubjects", theLabel+`,"subjects":$value`), example: "policies/commands/modify/modifysubjects.json",
		responses: []internalResponseCase{{"policies/commands/modify/modifysubjectsresponse.json", policyResp("modifySubjects", 204, theLabel)}}},
	{cmd: policyCmd("retrieveSubjects", theLabel), example: "policies/commands/query/retrievesubjects.json",
		responses: []internalResponseCase{{"policies/commands/query/retrievesubjectsresponse.json",
			policyResp("retrieveSubjects", 200, theLabel+`,"subjects":$value`)}}},
	{cmd: policyCmd("modifySubject", theLabel+`,"subjectId":"google:the_subjectid","subject":$value`), example: "policies/commands/modify/modifysubject.json",
		responses: []internalResponseCase{
			{"policies/commands/modify/modifysubjectresponsecreated.json", policyResp("modifySubject", 201, theLabel+`,"subjectId":"google:the_subjectid","subject":$value`)},
			{"policies/commands/modify/modifysubjectresponse.json", policyResp("modifySubject", 204, theLabel+`,"subjectId":"google:the_subjectid"`)},
		}},
	{cmd: policyCmd("retrieveSubject", theLabel+`,"subjectId":"google:the_subjectid"`), example: "policies/commands/query/retrievesubject.json",
		responses: []internalResponseCase{{"policies/commands/query/retrievesubjectresponse.json",
			policyResp("retrieveSubject", 200, theLabel+`,"subjectId":"google:the_subjectid","subject":$value`)}}},
	{cmd: policyCmd("deleteSubject", theLabel+`,"subjectId":"google:the_subjectid"`), example: "policies/commands/modify/deletesubject.json",
		responses: []internalResponseCase{{"policies/commands/modify/deletesubjectresponse.json",
			policyResp("deleteSubject", 204, theLabel+`,"subjectId":"google:the_subjectid"`)}}},
	{cmd: policyCmd("modifyResources", theLabel+`,"resources":$value`), example: "policies/commands/modify/modifyresources.json",
		responses: []internalResponseCase{{"policies/commands/modify/modifyresourcesresponse.json", policyResp("modifyResources", 204, theLabel)}}},
	{cmd: policyCmd("retrieveResources", theLabel), example: "policies/commands/query/retrieveresources.json",
		responses: []internalResponseCase{{"policies/commands/query/retrieveresourcesresponse.json",
			policyResp("retrieveResources", 200, theLabel+`,"resources":$value`)}}},
	{cmd: policyCmd("modifyResource", theLabel+`,"resourceKey":"thing:/the_resource_path","resource":$value`), example: "policies/commands/modify/modifyresource.json",
		responses: []internalResponseCase{
			{"policies/commands/modify/modifyresourceresponsecreated.json", policyResp("modifyResource", 201, theLabel+`,"resourceKey":"thing:/the_resource_path","resource":$value`)},
			{"policies/commands/modify/modifyresourceresponse.json", policyResp("modifyResource", 204, theLabel+`,"resourceKey":"thing:/the_resource_path"`)},
		}},
	{cmd: policyCmd("retrieveResource", theLabel+`,"resourceKey":"thing:/the_resource_path"`), example: "policies/commands/query/retrieveresource.json",
		responses: []internalResponseCase{{"policies/commands/query/retrieveresourceresponse.json",
			policyResp("retrieveResource", 200, theLabel+`,"resourceKey":"thing:/the_resource_path","resource":$value`)}}},
	{cmd: policyCmd("deleteResource", theLabel+`,"resourceKey":"thing:/the_resource_path"`), example: "policies/commands/modify/deleteresource.json",
		responses: []internalResponseCase{{"policies/commands/modify/deleteresourceresponse.json",
			policyResp("deleteResource", 204, theLabel+`,"resourceKey":"thing:/the_resource_path"`)}}},
	{cmd: policyCmd("modifyPolicyImports", thePolicy+`,"policyImports":$value`), example: "policies/commands/modify/modifyimports.json",
		responses: []internalResponseCase{{"policies/commands/modify/modifyimportsresponse.json", policyResp("modifyPolicyImports", 204, thePolicy)}}},
	{cmd: policyCmd("retrievePolicyImports", thePolicy), example: "policies/commands/query/retrieveimports.json",
		responses: []internalResponseCase{{"policies/commands/query/retrieveimportsresponse.json",
			policyResp("retrievePolicyImports", 200, thePolicy+`,"policyImports":$value`)}}},
	{cmd: policyCmd("modifyPolicyImport", thePolicy+`,"importedPolicyId":"org.eclipse.ditto:imported-policy","policyImport":$value`), example: "policies/commands/modify/modifyimport.json",
		responses: []internalResponseCase{
			{"policies/commands/modify/modifyimportresponsecreated.json", policyResp("modifyPolicyImport", 201, thePolicy+`,"importedPolicyId":"org.eclipse.ditto:imported-policy","policyImport":$value`)},
			{"policies/commands/modify/modifyimportresponse.json", policyResp("modifyPolicyImport", 204, thePolicy+`,"importedPolicyId":"org.eclipse.ditto:imported-policy"`)},
		}},
	{cmd: policyCmd("retrievePolicyImport", thePolicy+`,"importedPolicyId":"org.eclipse.ditto:the_imported_policy_id"`), example: "policies/commands/query/retrieveimport.json",
		responses: []internalResponseCase{{"policies/commands/query/retrieveimportresponse.json",
			policyResp("retrievePolicyImport", 200, thePolicy+`,"importedPolicyId":"org.eclipse.ditto:the_imported_policy_id","policyImport":$value`)}}},
	{cmd: policyCmd("modifyPolicyEntryReferences", theLabel+`,"references":$value`), example: "policies/commands/modify/modifyreferences.json",
		responses: []internalResponseCase{{"policies/commands/modify/modifyreferencesresponse.json", policyResp("modifyPolicyEntryReferences", 204, theLabel)}}},
	{cmd: policyCmd("retrievePolicyEntryReferences", theLabel), example: "policies/commands/query/retrievereferences.json",
		responses: []internalResponseCase{{"policies/commands/query/retrievereferencesresponse.json",
			policyResp("retrievePolicyEntryReferences", 200, theLabel+`,"references":$value`)}}},
	{cmd: policyCmd("deletePolicyEntryReferences", theLabel), example: "policies/commands/modify/deletereferences.json",
		responses: []internalResponseCase{{"policies/commands/modify/deletereferencesresponse.json", policyResp("deletePolicyEntryReferences", 204, theLabel)}}},
}

// exampleMessage returns the first message of an example file.
func exampleMessage(t *testing.T, examples map[string]exampleFile, name string) Envelope {
	t.Helper()
	f, ok := examples[name]
	if !ok || len(f.Messages) == 0 {
		t.Fatalf("no example %s", name)
	}
	env, err := DecodeEnvelope(f.Messages[0])
	if err != nil {
		t.Fatalf("example %s: %v", name, err)
	}
	return env
}

// fill replaces $value with value and $plain with value as a JSON string.
func fill(s string, value json.RawMessage) string {
	plain, _ := json.Marshal(string(value))
	v := string(value)
	if value == nil {
		v = "null"
	}
	return strings.NewReplacer("$value", v, "$plain", string(plain)).Replace(s)
}

// Each command in Ditto's internal JSON maps onto Ditto's Protocol form of
// the same command (Ditto's documented examples), and each documented reply
// maps onto the internal JSON of the command's response.
func TestInternalCommandsMatchDittoExamples(t *testing.T) {
	t.Parallel()
	examples := loadExamples(t)
	thingNames, policyNames := map[string]bool{}, map[string]bool{}
	for _, tc := range internalCases {
		want := exampleMessage(t, examples, tc.example)
		cmd := fill(tc.cmd, want.Value)
		t.Run(tc.example, func(t *testing.T) {
			c, err := ParseInternalCommand([]byte(cmd), want.Headers)
			if err != nil {
				t.Fatalf("%s: %v", cmd, err)
			}
			if c.Group == GroupThings {
				thingNames[c.name] = true
			} else {
				policyNames[c.name] = true
			}
			if InternalCommandGroup(c.Type) != c.Group {
				t.Errorf("InternalCommandGroup(%q) = %q, want %q", c.Type, InternalCommandGroup(c.Type), c.Group)
			}
			topic := want.Topic
			if tc.topic != "" {
				topic = tc.topic
			}
			if c.Envelope.Topic != topic || c.Envelope.Path != want.Path || c.Envelope.Fields != want.Fields {
				t.Errorf("envelope %s %s fields %q, want %s %s fields %q",
					c.Envelope.Topic, c.Envelope.Path, c.Envelope.Fields, topic, want.Path, want.Fields)
			}
			if !reflect.DeepEqual(c.Envelope.Headers, want.Headers) {
				t.Errorf("headers %v, want %v", c.Envelope.Headers, want.Headers)
			}
			if (c.Envelope.Value == nil) != (want.Value == nil) ||
				want.Value != nil && !reflect.DeepEqual(semantic(t, c.Envelope.Value), semantic(t, want.Value)) {
				t.Errorf("value %s, want %s", c.Envelope.Value, want.Value)
			}
			if c.name != internalRetrieveThingsName {
				if tid, _ := ParseTopic(c.Envelope.Topic); tid.EntityID() != c.EntityID {
					t.Errorf("entity %q, topic %s", c.EntityID, c.Envelope.Topic)
				}
			}
			for _, rc := range tc.responses {
				reply := exampleMessage(t, examples, rc.example)
				status, body := c.Response(reply)
				if status != reply.Status {
					t.Errorf("%s: status %d, want %d", rc.example, status, reply.Status)
				}
				wantBody := fill(rc.want, reply.Value)
				if !reflect.DeepEqual(semantic(t, body), semantic(t, []byte(wantBody))) {
					t.Errorf("%s: response\n %s\nwant\n %s", rc.example, body, wantBody)
				}
			}
		})
	}
	// Every command type is covered except the policy ones Ditto documents
	// no example for.
	for name := range thingSpecs {
		if !thingNames[name] {
			t.Errorf("no example case for things.commands:%s", name)
		}
	}
	undocumented := map[string]bool{"deletePolicyImports": true, "deletePolicyImport": true,
		"modifyPolicyImportEntries": true, "retrievePolicyImportEntries": true,
		"modifyPolicyImportTransitiveImports": true, "retrievePolicyImportTransitiveImports": true,
		"modifyPolicyEntryAllowedAdditions": true, "retrievePolicyEntryAllowedAdditions": true, "deletePolicyEntryAllowedAdditions": true,
		"modifyPolicyEntryNamespaces": true, "retrievePolicyEntryNamespaces": true,
		"modifyPolicyEntryImportable": true, "retrievePolicyEntryImportable": true}
	for name := range policySpecs {
		if !policyNames[name] && !undocumented[name] {
			t.Errorf("no example case for policies.commands:%s", name)
		}
	}
}

// The policy commands Ditto's documentation has no example for map onto
// the paths Ditto's HTTP API (and the gateway) give them.
func TestInternalPolicyCommandsWithoutExamples(t *testing.T) {
	t.Parallel()
	imp := thePolicy + `,"importedPolicyId":"org.eclipse.ditto:imported"`
	for _, tc := range []struct {
		cmd, topic, path, value, response string
		status                            int
		reply                             string
	}{
		{policyCmd("deletePolicyImports", thePolicy), "delete", "/imports", "",
			policyResp("deletePolicyImports", 204, thePolicy), 204, ""},
		{policyCmd("deletePolicyImport", imp), "delete", "/imports/org.eclipse.ditto:imported", "",
			policyResp("deletePolicyImport", 204, imp), 204, ""},
		{policyCmd("modifyPolicyImportEntries", imp+`,"entries":["a","b"]`), "modify", "/imports/org.eclipse.ditto:imported/entries", `["a","b"]`,
			policyResp("modifyPolicyImportEntries", 204, imp), 204, ""},
		{policyCmd("retrievePolicyImportEntries", imp), "retrieve", "/imports/org.eclipse.ditto:imported/entries", "",
			policyResp("retrievePolicyImportEntries", 200, imp+`,"entries":["a"]`), 200, `["a"]`},
		{policyCmd("modifyPolicyImportTransitiveImports", imp+`,"transitiveImports":["x:y"]`), "modify", "/imports/org.eclipse.ditto:imported/transitiveImports", `["x:y"]`,
			policyResp("modifyPolicyImportTransitiveImports", 204, imp), 204, ""},
		{policyCmd("retrievePolicyImportTransitiveImports", imp), "retrieve", "/imports/org.eclipse.ditto:imported/transitiveImports", "",
			policyResp("retrievePolicyImportTransitiveImports", 200, imp+`,"transitiveImports":["x:y"]`), 200, `["x:y"]`},
		{policyCmd("modifyPolicyEntryAllowedAdditions", theLabel+`,"allowedAdditions":["subjects"]`), "modify", "/entries/the_label/allowedAdditions", `["subjects"]`,
			policyResp("modifyPolicyEntryAllowedAdditions", 204, theLabel), 204, ""},
		{policyCmd("retrievePolicyEntryAllowedAdditions", theLabel), "retrieve", "/entries/the_label/allowedAdditions", "",
			policyResp("retrievePolicyEntryAllowedAdditions", 200, theLabel+`,"allowedAdditions":["subjects"]`), 200, `["subjects"]`},
		{policyCmd("deletePolicyEntryAllowedAdditions", theLabel), "delete", "/entries/the_label/allowedAdditions", "",
			policyResp("deletePolicyEntryAllowedAdditions", 204, theLabel), 204, ""},
		{policyCmd("modifyPolicyEntryNamespaces", theLabel+`,"namespaces":["org.*"]`), "modify", "/entries/the_label/namespaces", `["org.*"]`,
			policyResp("modifyPolicyEntryNamespaces", 204, theLabel), 204, ""},
		{policyCmd("retrievePolicyEntryNamespaces", theLabel), "retrieve", "/entries/the_label/namespaces", "",
			policyResp("retrievePolicyEntryNamespaces", 200, theLabel+`,"namespaces":["org.*"]`), 200, `["org.*"]`},
		{policyCmd("modifyPolicyEntryImportable", theLabel+`,"importable":"explicit"`), "modify", "/entries/the_label/importable", `"explicit"`,
			policyResp("modifyPolicyEntryImportable", 204, theLabel), 204, ""},
		{policyCmd("retrievePolicyEntryImportable", theLabel), "retrieve", "/entries/the_label/importable", "",
			policyResp("retrievePolicyEntryImportable", 200, theLabel+`,"importable":"implicit"`), 200, `"implicit"`},
	} {
		c, err := ParseInternalCommand([]byte(tc.cmd), nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.cmd, err)
		}
		wantTopic := "org.eclipse.ditto/the_policy_id/policies/commands/" + tc.topic
		if c.Envelope.Topic != wantTopic || c.Envelope.Path != tc.path || string(c.Envelope.Value) != tc.value {
			t.Errorf("%s: %s %s %s, want %s %s %s", c.Type, c.Envelope.Topic, c.Envelope.Path, c.Envelope.Value, wantTopic, tc.path, tc.value)
		}
		reply := Envelope{Topic: wantTopic, Path: tc.path, Status: tc.status}
		if tc.reply != "" {
			reply.Value = json.RawMessage(tc.reply)
		}
		status, body := c.Response(reply)
		if status != tc.status || string(body) != tc.response {
			t.Errorf("%s: %d %s, want %d %s", c.Type, status, body, tc.status, tc.response)
		}
	}
}

// Ditto's internal JSON of a thing command differs from its Protocol form
// in where the inline policy and the policy to copy go; a thing's own JSON
// does not carry them.
func TestInternalCreateThingPolicies(t *testing.T) {
	t.Parallel()
	c, err := ParseInternalCommand([]byte(`{"type":"things.commands:createThing",
		"thing":{"thingId":"ns:t","_policy":{"ignored":true},"attributes":{"a":1}},
		"initialPolicy":{"entries":{"owner":{"subjects":{"nginx:ditto":{"type":"x"}},"resources":{"thing:/":{"grant":["READ"],"revoke":[]}}}}}}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"thingId":"ns:t","attributes":{"a":1},"_policy":{"entries":{"owner":{"subjects":{"nginx:ditto":{"type":"x"}},"resources":{"thing:/":{"grant":["READ"],"revoke":[]}}}}}}`
	if string(c.Envelope.Value) != want {
		t.Errorf("value %s\nwant %s", c.Envelope.Value, want)
	}
	c, err = ParseInternalCommand([]byte(`{"type":"things.commands:modifyThing","thingId":"ns:t","thing":{"policyId":"ns:p"},"policyIdOrPlaceholder":"{{ ref:things/ns:u/policyId }}"}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	want = `{"thingId":"ns:t","policyId":"ns:p","_copyPolicyFrom":"{{ ref:things/ns:u/policyId }}"}`
	if string(c.Envelope.Value) != want || c.Envelope.Topic != "ns/t/things/twin/commands/modify" {
		t.Errorf("%s %s, want %s", c.Envelope.Topic, c.Envelope.Value, want)
	}
	// retrieveThing's snapshot revision is read as the historical revision.
	c, err = ParseInternalCommand([]byte(`{"type":"things.commands:retrieveThing","thingId":"ns:t","snapshotRevision":42}`), Headers{"correlation-id": "c"})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Envelope.Headers; got[HeaderAtHistoricalRevision] != "42" || got[HeaderCorrelationID] != "c" {
		t.Errorf("headers %v", got)
	}
	// retrieveThings with a namespace: the things must be in it.
	c, err = ParseInternalCommand([]byte(`{"type":"things.commands:retrieveThings","thingIds":["ns:a",1,"ns:b"],"namespace":"ns"}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.ThingIDs, []string{"ns:a", "ns:b"}) || c.Envelope.Topic != "ns/_/things/twin/commands/retrieve" {
		t.Errorf("%v %s", c.ThingIDs, c.Envelope.Topic)
	}
	if env := c.RetrieveThingEnvelope("ns:b"); env.Topic != "ns/b/things/twin/commands/retrieve" || env.Path != "/" {
		t.Errorf("retrieve one: %+v", env)
	}
	status, body := c.Response(c.RetrieveThingsReply([]json.RawMessage{[]byte(`{"thingId":"ns:a"}`)}))
	if want := `{"type":"things.responses:retrieveThings","status":200,"thingsPlainJson":"[{\"thingId\":\"ns:a\"}]","namespace":"ns"}`; status != 200 || string(body) != want {
		t.Errorf("%d %s, want %s", status, body, want)
	}
}

// A reply that is an error is answered with the Ditto error JSON as it is.
func TestInternalCommandErrorResponse(t *testing.T) {
	t.Parallel()
	c, err := ParseInternalCommand([]byte(thingCmd("retrieveThing", `"thingId":"ns:t"`)), nil)
	if err != nil {
		t.Fatal(err)
	}
	perr := ErrThingNotAccessible("ns:t")
	status, body := c.Response(ErrorEnvelope(Topic{Namespace: "ns", EntityName: "t", Group: GroupThings, Channel: ChannelTwin,
		Criterion: CriterionCommands, Action: ActionRetrieve}, nil, "/", perr))
	if status != 404 || string(body) != string(appendErrorJSON(nil, perr)) {
		t.Errorf("%d %s", status, body)
	}
}

// Commands Ditto cannot read are answered with the errors Ditto answers.
func TestInternalCommandErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cmd, code, message string
	}{
		{`[]`, CodeJSONInvalid, "<[]> is not a valid JSON object!"},
		{`{"type":`, CodeJSONInvalid, `Failed to parse JSON string '{"type":'!`},
		{`{"thingId":"ns:t"}`, CodeJSONFieldMissing, "JSON did not include required </type> field!"},
		{`{"type":"things.commands:frobnicate","thingId":"ns:t"}`, CodeJSONTypeNotParsable,
			"The JSON type 'things.commands:frobnicate' is not supported by registry 'GlobalCommandRegistry'."},
		{`{"type":"connectivity.commands:createConnection"}`, CodeJSONTypeNotParsable,
			"The JSON type 'connectivity.commands:createConnection' is not supported by registry 'GlobalCommandRegistry'."},
		{thingCmd("retrieveThing", `"selectedFields":"a"`), CodeJSONFieldMissing, "JSON did not include required </thingId> field!"},
		{thingCmd("retrieveThing", `"thingId":null`), CodeJSONFieldMissing, "JSON did not include required </thingId> field!"},
		{thingCmd("retrieveThing", `"thingId":42`), CodeJSONInvalid, "Value <42> for </thingId> is not of type <String>!"},
		{thingCmd("retrieveThing", `"thingId":"no-namespace"`), CodeThingIDInvalid, "Thing ID 'no-namespace' is not valid!"},
		{thingCmd("retrieveThing", `"thingId":"ns:t","selectedFields":1`), CodeJSONInvalid, "Value <1> for </selectedFields> is not of type <String>!"},
		{thingCmd("retrieveThing", `"thingId":"ns:t","snapshotRevision":"1"`), CodeJSONInvalid, `Value <"1"> for </snapshotRevision> is not of type <Long>!`},
		{thingCmd("modifyAttribute", `"thingId":"ns:t","attribute":"a"`), CodeJSONFieldMissing, "JSON did not include required </value> field!"},
		{thingCmd("modifyAttribute", `"thingId":"ns:t","value":1`), CodeJSONFieldMissing, "JSON did not include required </attribute> field!"},
		{thingCmd("modifyAttribute", `"thingId":"ns:t","attribute":"/","value":1`), CodeAttributePointerInvalid, " The Attribute JSON pointer '/' is invalid."},
		{thingCmd("deleteAttribute", `"thingId":"ns:t","attribute":"a//b"`), CodeJSONPointerInvalid, "The JSON pointer <a//b> is invalid!"},
		{thingCmd("modifyAttributes", `"thingId":"ns:t","attributes":[1]`), CodeJSONInvalid, "Value <[1]> for </attributes> is not of type <JsonObject>!"},
		{thingCmd("modifyFeatureDefinition", `"thingId":"ns:t","featureId":"f","definition":"x:y:1"`), CodeJSONInvalid, `Value <"x:y:1"> for </definition> is not of type <JsonArray>!`},
		{thingCmd("modifyDefinition", `"thingId":"ns:t","definition":{}`), CodeJSONInvalid, "Value <{}> for </definition> is not of type <String>!"},
		{thingCmd("retrieveFeature", `"thingId":"ns:t","featureId":"a/b"`), CodeJSONKeyInvalid, "The JSON key <a/b> is invalid!"},
		{thingCmd("deleteFeatureProperty", `"thingId":"ns:t","featureId":"f","property":""`), CodeJSONPointerInvalid, "The JSON pointer <> is invalid!"},
		{thingCmd("modifyPolicyId", `"thingId":"ns:t","policyId":"bad"`), CodePolicyIDInvalid, "Policy ID 'bad' is not valid!"},
		{thingCmd("createThing", `"thing":{"attributes":{}}`), CodeJSONFieldMissing, "JSON did not include required </thing/thingId> field!"},
		{thingCmd("createThing", `"thing":{"thingId":7}`), CodeJSONInvalid, "Value <7> for </thingId> is not of type <String>!"},
		{thingCmd("createThing", `"thing":{"thingId":"ns:t"},"initialPolicy":{},"policyIdOrPlaceholder":"ns:p"`), CodeThingPoliciesConflicting,
			"The Thing with ID 'ns:t' could not be created as it contained an inline Policy as well as a policyID to copy."},
		{thingCmd("modifyThing", `"thing":{}`), CodeJSONFieldMissing, "JSON did not include required </thingId> field!"},
		{thingCmd("modifyThing", `"thingId":"ns:t","thing":{"thingId":"ns:u"}`), CodeThingIDNotSettable,
			"The Thing ID in the request body is not equal to the Thing ID in the request URL."},
		{thingCmd("mergeThing", `"thingId":"ns:t","value":{}`), CodeJSONFieldMissing, "JSON did not include required </path> field!"},
		{thingCmd("retrieveThings", `"thingIds":"ns:t"`), CodeJSONInvalid, `Value <"ns:t"> for </thingIds> is not of type <JsonArray>!`},
		{thingCmd("retrieveThings", `"thingIds":["ns:t","other:u"],"namespace":"ns"`), CodeJSONInvalid,
			"The provided namespace must match the namespace of all things to retrieve."},
		{policyCmd("createPolicy", `"policy":{"entries":{}}`), CodePolicyIDInvalid, "Policy ID must be present in 'CreatePolicy' payload"},
		{policyCmd("retrievePolicy", `"policyId":"x"`), CodePolicyIDInvalid, "Policy ID 'x' is not valid!"},
		{policyCmd("modifyPolicy", `"policyId":"ns:p","policy":{"policyId":"ns:q"}`), CodePolicyIDNotSettable, ""},
		{policyCmd("retrievePolicyEntry", thePolicy+`,"label":"a/b"`), CodePolicyEntryInvalid, "The Policy Label a/b is invalid"},
		{policyCmd("retrieveSubject", theLabel+`,"subjectId":""`), CodePolicySubjectIDInvalid, "Subject ID '' is not valid!"},
		{policyCmd("modifyResource", theLabel+`,"resourceKey":"thing:/","resource":7`), CodeJSONInvalid, "Value <7> for </resource> is not of type <JsonObject>!"},
		{policyCmd("retrievePolicyImport", thePolicy+`,"importedPolicyId":"x"`), CodePolicyIDInvalid, "Policy ID 'x' is not valid!"},
	} {
		_, err := ParseInternalCommand([]byte(tc.cmd), nil)
		perr := AsError(err)
		if perr == nil || perr.Code != tc.code || tc.message != "" && perr.Message != tc.message || perr.Status != 400 {
			t.Errorf("%s: %v, want %s %q", tc.cmd, err, tc.code, tc.message)
		}
		if tc.code == CodeJSONTypeNotParsable && !errors.Is(err, ErrJSONTypeNotParsable("")) {
			t.Errorf("%s: %v is not ErrJSONTypeNotParsable", tc.cmd, err)
		}
	}
	// JSON null is a value for a JsonValue field: the attribute is set to
	// null.
	c, err := ParseInternalCommand([]byte(thingCmd("modifyAttribute", `"thingId":"ns:t","attribute":"a","value":null`)), nil)
	if err != nil || string(c.Envelope.Value) != "null" {
		t.Errorf("null value: %v %s", err, c.Envelope.Value)
	}
}

func TestInternalCommandGroup(t *testing.T) {
	t.Parallel()
	for typ, want := range map[string]string{
		"things.commands:retrieveThing":            GroupThings,
		"things.commands:retrieveThings":           GroupThings,
		"policies.commands:createPolicy":           GroupPolicies,
		"things.commands:migrateThingDefinition":   "",
		"things.commands:":                         "",
		"policies.commands:retrieveThing":          "",
		"things.responses:retrieveThing":           "",
		"devops.commands:changeLogLevel":           "",
		"connectivity.commands:retrieveConnection": "",
	} {
		if got := InternalCommandGroup(typ); got != want {
			t.Errorf("InternalCommandGroup(%q) = %q, want %q", typ, got, want)
		}
	}
}

// The parser never panics; what it accepts encodes to a valid envelope,
// and every response it writes is a JSON object.
func FuzzInternalCommand(f *testing.F) {
	for _, tc := range internalCases {
		f.Add(fill(tc.cmd, json.RawMessage(`{"a":[1,"x",{"b":null}]}`)))
	}
	f.Add(`{"type":"things.commands:retrieveThings","thingIds":["ns:a",1,"ns:b"],"namespace":"ns"}`)
	f.Add(`{"type":"things.commands:createThing","thing":{"thingId":"ns:t","_policy":1},"policyIdOrPlaceholder":"x"}`)
	f.Add(`{"type":"things.commands:retrieveThing","thingId":"ns:t","snapshotRevision":1e3}`)
	f.Add(`{"type":"policies.commands:modifySubject","policyId":"ns:p","label":"l","subjectId":"a:b","subject":null}`)
	replies := []Envelope{
		{Status: 200, Value: json.RawMessage(`{"x":1}`)},
		{Status: 201, Value: json.RawMessage(`"s"`)},
		{Status: 204},
		{},
		ErrorEnvelope(Topic{Namespace: "ns", EntityName: "t", Group: GroupThings, Channel: ChannelTwin, Criterion: CriterionCommands},
			nil, "/", ErrThingNotAccessible("ns:t")),
	}
	f.Fuzz(func(t *testing.T, data string) {
		c, err := ParseInternalCommand([]byte(data), Headers{"correlation-id": "x"})
		if err != nil {
			if AsError(err) == nil {
				t.Fatalf("%q: error %v is not a Ditto error", data, err)
			}
			return
		}
		if InternalCommandGroup(c.Type) != c.Group {
			t.Fatalf("%q: group %q, InternalCommandGroup %q", data, c.Group, InternalCommandGroup(c.Type))
		}
		if _, err := c.Envelope.AppendJSON(nil); err != nil {
			t.Fatalf("%q: envelope does not encode: %v", data, err)
		}
		for _, id := range c.ThingIDs {
			if _, err := c.RetrieveThingEnvelope(id).AppendJSON(nil); err != nil {
				t.Fatalf("%q: retrieve %s does not encode: %v", data, id, err)
			}
		}
		for _, r := range replies {
			_, body := c.Response(r)
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(body, &obj); err != nil {
				t.Fatalf("%q: response %s: %v", data, body, err)
			}
		}
	})
}

/*
 * What the decoder knows about tags: a known tag must carry its KMIP type,
 * so a response that puts, say, a text where the key material belongs is
 * refused before any accessor sees it. Unknown tags pass with any type.
 */
#include "config.h"

#include <stddef.h>

#include "kmip_tags.h"
#include "kmip_ttlv.h"

static const struct sk_ttlv_tag_info tag_table[] = {
	{ KMIP_TAG_APPLICATION_DATA, SK_TTLV_TEXT, "Application Data" },
	{ KMIP_TAG_APPLICATION_NAMESPACE, SK_TTLV_TEXT, "Application Namespace" },
	{ KMIP_TAG_APPLICATION_SPECIFIC_INFORMATION, SK_TTLV_STRUCT,
	  "Application Specific Information" },
	{ KMIP_TAG_ATTRIBUTE, SK_TTLV_STRUCT, "Attribute" },
	{ KMIP_TAG_ATTRIBUTE_INDEX, SK_TTLV_INT, "Attribute Index" },
	{ KMIP_TAG_ATTRIBUTE_NAME, SK_TTLV_TEXT, "Attribute Name" },
	{ KMIP_TAG_ATTRIBUTE_VALUE, 0, "Attribute Value" },
	{ KMIP_TAG_BATCH_COUNT, SK_TTLV_INT, "Batch Count" },
	{ KMIP_TAG_BATCH_ERROR_CONTINUATION_OPTION, SK_TTLV_ENUM,
	  "Batch Error Continuation Option" },
	{ KMIP_TAG_BATCH_ITEM, SK_TTLV_STRUCT, "Batch Item" },
	{ KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM, SK_TTLV_ENUM, "Cryptographic Algorithm" },
	{ KMIP_TAG_CRYPTOGRAPHIC_LENGTH, SK_TTLV_INT, "Cryptographic Length" },
	{ KMIP_TAG_CRYPTOGRAPHIC_USAGE_MASK, SK_TTLV_INT, "Cryptographic Usage Mask" },
	{ KMIP_TAG_KEY_BLOCK, SK_TTLV_STRUCT, "Key Block" },
	{ KMIP_TAG_KEY_FORMAT_TYPE, SK_TTLV_ENUM, "Key Format Type" },
	{ KMIP_TAG_KEY_MATERIAL, 0, "Key Material" },
	{ KMIP_TAG_KEY_VALUE, 0, "Key Value" },
	{ KMIP_TAG_MAXIMUM_ITEMS, SK_TTLV_INT, "Maximum Items" },
	{ KMIP_TAG_NAME, SK_TTLV_STRUCT, "Name" },
	{ KMIP_TAG_NAME_TYPE, SK_TTLV_ENUM, "Name Type" },
	{ KMIP_TAG_NAME_VALUE, SK_TTLV_TEXT, "Name Value" },
	{ KMIP_TAG_OBJECT_TYPE, SK_TTLV_ENUM, "Object Type" },
	{ KMIP_TAG_OPERATION, SK_TTLV_ENUM, "Operation" },
	{ KMIP_TAG_PROTOCOL_VERSION, SK_TTLV_STRUCT, "Protocol Version" },
	{ KMIP_TAG_PROTOCOL_VERSION_MAJOR, SK_TTLV_INT, "Protocol Version Major" },
	{ KMIP_TAG_PROTOCOL_VERSION_MINOR, SK_TTLV_INT, "Protocol Version Minor" },
	{ KMIP_TAG_REQUEST_HEADER, SK_TTLV_STRUCT, "Request Header" },
	{ KMIP_TAG_REQUEST_MESSAGE, SK_TTLV_STRUCT, "Request Message" },
	{ KMIP_TAG_REQUEST_PAYLOAD, SK_TTLV_STRUCT, "Request Payload" },
	{ KMIP_TAG_RESPONSE_HEADER, SK_TTLV_STRUCT, "Response Header" },
	{ KMIP_TAG_RESPONSE_MESSAGE, SK_TTLV_STRUCT, "Response Message" },
	{ KMIP_TAG_RESPONSE_PAYLOAD, SK_TTLV_STRUCT, "Response Payload" },
	{ KMIP_TAG_RESULT_MESSAGE, SK_TTLV_TEXT, "Result Message" },
	{ KMIP_TAG_RESULT_REASON, SK_TTLV_ENUM, "Result Reason" },
	{ KMIP_TAG_RESULT_STATUS, SK_TTLV_ENUM, "Result Status" },
	{ KMIP_TAG_REVOCATION_REASON, SK_TTLV_STRUCT, "Revocation Reason" },
	{ KMIP_TAG_REVOCATION_REASON_CODE, SK_TTLV_ENUM, "Revocation Reason Code" },
	{ KMIP_TAG_STATE, SK_TTLV_ENUM, "State" },
	{ KMIP_TAG_SYMMETRIC_KEY, SK_TTLV_STRUCT, "Symmetric Key" },
	{ KMIP_TAG_TEMPLATE_ATTRIBUTE, SK_TTLV_STRUCT, "Template-Attribute" },
	{ KMIP_TAG_TIME_STAMP, SK_TTLV_DATETIME, "Time Stamp" },
	{ KMIP_TAG_UNIQUE_BATCH_ITEM_ID, SK_TTLV_BYTES, "Unique Batch Item ID" },
	{ KMIP_TAG_UNIQUE_IDENTIFIER, SK_TTLV_TEXT, "Unique Identifier" },
	{ KMIP_TAG_ATTRIBUTES, SK_TTLV_STRUCT, "Attributes" },
	{ KMIP_TAG_ATTRIBUTE_REFERENCE, 0, "Attribute Reference" },
};

static const char *const type_names[] = {
	[SK_TTLV_STRUCT] = "Structure",    [SK_TTLV_INT] = "Integer",
	[SK_TTLV_LONG] = "Long Integer",   [SK_TTLV_BIGINT] = "Big Integer",
	[SK_TTLV_ENUM] = "Enumeration",    [SK_TTLV_BOOL] = "Boolean",
	[SK_TTLV_TEXT] = "Text String",    [SK_TTLV_BYTES] = "Byte String",
	[SK_TTLV_DATETIME] = "Date-Time",  [SK_TTLV_INTERVAL] = "Interval",
	[SK_TTLV_DATETIME_EXT] = "Date-Time Extended",
};

const struct sk_ttlv_tag_info *sk_ttlv_tag_lookup(uint32_t tag)
{
	for (size_t i = 0; i < sizeof(tag_table) / sizeof(tag_table[0]); i++)
		if (tag_table[i].tag == tag)
			return &tag_table[i];
	return NULL;
}

const char *sk_ttlv_type_name(uint8_t type)
{
	if (type < sizeof(type_names) / sizeof(type_names[0]) && type_names[type])
		return type_names[type];
	return "unknown type";
}

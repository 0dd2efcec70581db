"""The standard fields of the emulated Salesforce objects, as data (names and attributes from Salesforce's
Object Reference and, for Contact, a real recorded describe: shared/fixtures/recorded/salesforce).

One line a field: ``Name type[:length] flag ...``. Flags:

- ``req``: not nillable; ``ro``: neither createable nor updateable; ``co``: createable, not updateable;
  ``doc``: defaulted on create; ``calc``: a formula field (read-only; the formula is in ``FORMULAS``);
- ``ref=A|B``: a lookup to these objects (``poly`` when it may point at several);
- ``rel=Name``: its relationship name when it is not the field name less ``Id``;
- ``cmp=Compound``: a part of that compound field; ``pl=KEY``: picklist values from ``PICKLISTS``;
- ``label=Words_Like_This``: the label, when it is not the name split into words;
- ``restricted``: a restricted picklist; ``xt=info``: the describe's ``extraTypeInfo``.

Macros: ``@name`` (Salutation, FirstName, LastName, Name), ``@address Prefix Compound`` (street to
geocode accuracy, then the compound), ``@audit`` (the five audit fields), ``@system`` (Id, IsDeleted).
"""

from __future__ import annotations

PICKLISTS: dict[str, tuple[str, ...]] = {
    "salutation": ("Mr.", "Ms.", "Mrs.", "Dr.", "Prof."),
    "geocode": (
        "Address",
        "NearAddress",
        "Block",
        "Street",
        "ExtendedZip",
        "Zip",
        "Neighborhood",
        "City",
        "County",
        "State",
        "Unknown",
    ),
    "clean": (
        "Matched",
        "Different",
        "Acknowledged",
        "NotFound",
        "Inactive",
        "Pending",
        "SelectMatch",
        "Skipped",
    ),
    "account_type": ("Prospect", "Customer - Direct", "Customer - Channel", "Partner", "Other"),
    "industry": (
        "Agriculture",
        "Apparel",
        "Banking",
        "Biotechnology",
        "Chemicals",
        "Communications",
        "Construction",
        "Consulting",
        "Education",
        "Electronics",
        "Energy",
        "Engineering",
        "Entertainment",
        "Environmental",
        "Finance",
        "Food & Beverage",
        "Government",
        "Healthcare",
        "Hospitality",
        "Insurance",
        "Machinery",
        "Manufacturing",
        "Media",
        "Not For Profit",
        "Recreation",
        "Retail",
        "Shipping",
        "Technology",
        "Telecommunications",
        "Transportation",
        "Utilities",
        "Other",
    ),
    "ownership": ("Public", "Private", "Subsidiary", "Other"),
    "rating": ("Hot", "Warm", "Cold"),
    "lead_source": (
        "Web",
        "Phone Inquiry",
        "Partner Referral",
        "Purchased List",
        "Trade Show",
        "Word of mouth",
        "Other",
    ),
    "lead_status": (
        "Open - Not Contacted",
        "Working - Contacted",
        "Closed - Converted",
        "Closed - Not Converted",
    ),
    "stage": (
        "Prospecting",
        "Qualification",
        "Needs Analysis",
        "Value Proposition",
        "Id. Decision Makers",
        "Perception Analysis",
        "Proposal/Price Quote",
        "Negotiation/Review",
        "Closed Won",
        "Closed Lost",
    ),
    "opp_type": (
        "Existing Customer - Upgrade",
        "Existing Customer - Replacement",
        "Existing Customer - Downgrade",
        "New Customer",
        "New Business",
        "Existing Business",
    ),
    "forecast": ("Omitted", "Pipeline", "BestCase", "MostLikely", "Forecast", "Closed"),
    "fiscal_quarter": ("1", "2", "3", "4"),
    "role": (
        "Business User",
        "Decision Maker",
        "Economic Buyer",
        "Economic Decision Maker",
        "Evaluator",
        "Executive Sponsor",
        "Influencer",
        "Technical Buyer",
        "Other",
    ),
    "timezone": (
        "America/Los_Angeles",
        "America/New_York",
        "Europe/London",
        "Europe/Berlin",
        "Europe/Paris",
        "Australia/Sydney",
    ),
    "locale": ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "nl_NL", "en_AU", "en_CA"),
    "language": ("en_US", "de", "fr", "es", "nl_NL"),
    "encoding": (
        "UTF-8",
        "ISO-8859-1",
        "Shift_JIS",
        "ISO-2022-JP",
        "EUC-JP",
        "ks_c_5601-1987",
        "Big5",
        "GB2312",
    ),
    "user_type": (
        "Standard",
        "PowerPartner",
        "PowerCustomerSuccess",
        "CustomerSuccess",
        "Guest",
        "CspLitePortal",
        "CsnOnly",
        "SelfService",
    ),
    "digest": ("D", "W", "N"),
    "group_notify": ("P", "D", "W", "N"),
    "tier": ("Tier 1", "Tier 2", "Tier 3"),
    "subscription_status": ("Active", "Trial", "Past Due", "Cancelled"),
    # Case's picklists as a new org has them (Setup > Object Manager > Case)
    "case_status": ("New", "Working", "Escalated", "Closed"),
    "case_origin": ("Phone", "Email", "Web"),
    "case_priority": ("High", "Medium", "Low"),
    "case_type": ("Question", "Problem", "Feature Request"),
    "case_reason": (
        "Installation",
        "Equipment Complexity",
        "Performance",
        "Breakdown",
        "Equipment Design",
        "Feedback",
        "Instructions not clear",
        "New problem",
        "Existing problem",
    ),
    "subscription_plan": ("Starter", "Professional", "Enterprise"),
    "language_pref": ("English", "German", "French", "Spanish"),
    "task_status": ("Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred"),
    "task_priority": ("High", "Normal", "Low"),
    "task_type": ("Call", "Email", "Meeting", "Other"),
    "task_subtype": ("Task", "Email", "ListEmail", "Cadence", "Call"),
    "call_type": ("Internal", "Inbound", "Outbound"),
    "event_type": ("Call", "Email", "Meeting", "Other"),
    "event_show_as": ("Busy", "OutOfOffice", "Free"),
    "event_subtype": ("Event",),
    "campaign_type": (
        "Conference",
        "Webinar",
        "Trade Show",
        "Public Relations",
        "Partners",
        "Referral Program",
        "Advertisement",
        "Banner Ads",
        "Direct Mail",
        "Email",
        "Telemarketing",
        "Other",
    ),
    "campaign_status": ("Planned", "In Progress", "Completed", "Aborted"),
    "campaign_member_status": ("Planned", "Received", "Responded", "Sent"),
    "product_family": ("Software", "Services", "Hardware", "Support"),
    "quantity_unit": ("Each", "Hours", "Seats"),
    "quote_status": (
        "Draft",
        "Needs Review",
        "In Review",
        "Approved",
        "Rejected",
        "Presented",
        "Accepted",
        "Denied",
    ),
}

FORMULAS: dict[tuple[str, str], str] = {
    ("Opportunity", "ExpectedRevenue"): "Amount * Probability / 100",
}

ACCOUNT = """
@system
MasterRecordId reference ro ref=Account
Name string:255 req label=Account_Name
Type picklist:255 pl=account_type label=Account_Type
ParentId reference ref=Account rel=Parent
@address Billing BillingAddress
@address Shipping ShippingAddress
Phone phone:40 label=Account_Phone
Fax phone:40 label=Account_Fax
AccountNumber string:40
Website url:255
PhotoUrl url:255 ro xt=imageurl
Sic string:20 label=SIC_Code
Industry picklist:255 pl=industry
AnnualRevenue currency
NumberOfEmployees int label=Employees
Ownership picklist:255 pl=ownership
TickerSymbol string:20
Description textarea:32000 label=Account_Description
Rating picklist:255 pl=rating label=Account_Rating
Site string:80 label=Account_Site
OwnerId reference req doc ref=User rel=Owner
@audit
LastActivityDate date ro
LastViewedDate datetime ro
LastReferencedDate datetime ro
Jigsaw string:20 label=Data.com_Key
JigsawCompanyId string:20 ro label=Jigsaw_Company_ID
CleanStatus picklist:40 pl=clean restricted
AccountSource picklist:255 pl=lead_source
DunsNumber string:9 label=D-U-N-S_Number
Tradestyle string:255
NaicsCode string:8 label=NAICS_Code
NaicsDesc string:120 label=NAICS_Description
YearStarted string:4
SicDesc string:80 label=SIC_Description
DandbCompanyId reference ref=DandBCompany label=D&B_Company_ID
OperatingHoursId reference ref=OperatingHours
"""

CONTACT = """
@system
MasterRecordId reference ro ref=Contact
AccountId reference ref=Account
@name
@address Other OtherAddress
@address Mailing MailingAddress
Phone phone:40 label=Business_Phone
Fax phone:40 label=Business_Fax
MobilePhone phone:40
HomePhone phone:40
OtherPhone phone:40
AssistantPhone phone:40 label=Asst._Phone
ReportsToId reference ref=Contact
Email email:80
Title string:128
Department string:80
AssistantName string:40 label=Assistant's_Name
LeadSource picklist:40 pl=lead_source
Birthdate date
Description textarea:32000 label=Contact_Description
OwnerId reference req doc ref=User rel=Owner
HasOptedOutOfEmail boolean req doc label=Email_Opt_Out
HasOptedOutOfFax boolean req doc label=Fax_Opt_Out
DoNotCall boolean req doc
@audit
LastActivityDate date ro label=Last_Activity
LastCURequestDate datetime ro label=Last_Stay-in-Touch_Request_Date
LastCUUpdateDate datetime ro label=Last_Stay-in-Touch_Save_Date
LastViewedDate datetime ro
LastReferencedDate datetime ro
EmailBouncedReason string:255
EmailBouncedDate datetime
IsEmailBounced boolean req ro doc
PhotoUrl url:255 ro label=Photo_URL xt=imageurl
Jigsaw string:20 label=Data.com_Key
JigsawContactId string:20 ro rel=JigsawContact label=Jigsaw_Contact_ID
CleanStatus picklist:40 pl=clean restricted
IndividualId reference ref=Individual
"""

LEAD = """
@system
MasterRecordId reference ro ref=Lead
@name
Title string:128
Company string:255 req
@address "" Address
Phone phone:40
MobilePhone phone:40
Fax phone:40
Email email:80
Website url:255
PhotoUrl url:255 ro label=Photo_URL xt=imageurl
Description textarea:32000
LeadSource picklist:255 pl=lead_source
Status picklist:255 req doc pl=lead_status label=Lead_Status
Industry picklist:255 pl=industry
Rating picklist:255 pl=rating
AnnualRevenue currency
NumberOfEmployees int label=Employees
OwnerId reference req doc ref=Group|User rel=Owner poly
HasOptedOutOfEmail boolean req doc label=Email_Opt_Out
IsConverted boolean req co doc label=Converted
ConvertedDate date ro
ConvertedAccountId reference ro ref=Account
ConvertedContactId reference ro ref=Contact
ConvertedOpportunityId reference ro ref=Opportunity
IsUnreadByOwner boolean req doc label=Unread_By_Owner
@audit
LastActivityDate date ro
DoNotCall boolean req doc
HasOptedOutOfFax boolean req doc label=Fax_Opt_Out
LastViewedDate datetime ro
LastReferencedDate datetime ro
LastTransferDate date ro
Jigsaw string:20 label=Data.com_Key
JigsawContactId string:20 ro rel=JigsawContact label=Jigsaw_Contact_ID
CleanStatus picklist:40 pl=clean restricted
CompanyDunsNumber string:9 label=Company_D-U-N-S_Number
DandbCompanyId reference ref=DandBCompany label=D&B_Company_ID
EmailBouncedReason string:255
EmailBouncedDate datetime
IndividualId reference ref=Individual
"""

OPPORTUNITY = """
@system
AccountId reference ref=Account
IsPrivate boolean req doc label=Private
Name string:120 req
Description textarea:32000
StageName picklist:255 req pl=stage label=Stage
Amount currency
Probability percent label=Probability_(%)
ExpectedRevenue currency calc label=Expected_Amount
TotalOpportunityQuantity double label=Quantity
CloseDate date req
Type picklist:255 pl=opp_type label=Opportunity_Type
NextStep string:255
LeadSource picklist:255 pl=lead_source
IsClosed boolean req ro doc label=Closed
IsWon boolean req ro doc label=Won
ForecastCategory picklist:40 req ro doc pl=forecast
ForecastCategoryName picklist:255 doc pl=forecast label=Forecast_Category
CampaignId reference ref=Campaign
HasOpportunityLineItem boolean req ro doc label=Has_Line_Item
Pricebook2Id reference ref=Pricebook2 label=Price_Book_ID
OwnerId reference req doc ref=User rel=Owner
@audit
LastActivityDate date ro
PushCount int ro
LastStageChangeDate datetime ro
FiscalQuarter int ro
FiscalYear int ro
Fiscal string:6 ro label=Fiscal_Period
ContactId reference ref=Contact
LastViewedDate datetime ro
LastReferencedDate datetime ro
HasOpenActivity boolean req ro doc
HasOverdueTask boolean req ro doc
LastAmountChangedHistoryId reference ro ref=OpportunityHistory
LastCloseDateChangedHistoryId reference ro ref=OpportunityHistory
"""

# A custom object as an admin makes one (Setup > Object Manager): the standard fields every custom object
# has (Name, OwnerId, the audit stamps), then its own __c fields, among them a lookup to Account.
SUBSCRIPTION = """
Id id:18 req ro doc label=Record_ID
OwnerId reference req doc ref=User rel=Owner label=Owner_ID
IsDeleted boolean req ro doc label=Deleted
Name string:80 doc label=Subscription_Name
@audit
LastActivityDate date ro
LastViewedDate datetime ro
LastReferencedDate datetime ro
Account__c reference ref=Account rel=Account__r label=Account
Status__c picklist:255 pl=subscription_status label=Status
Plan__c picklist:255 pl=subscription_plan label=Plan
MRR__c currency label=MRR
Seats__c double label=Seats
Start_Date__c date label=Start_Date
End_Date__c date label=End_Date
"""

# Case, a standard object (Object Reference): the server numbers it (CaseNumber, an auto-number) and keeps
# IsClosed and ClosedDate from its Status; the Supplied* fields are what web-to-case and email-to-case fill.
CASE = """
@system
MasterRecordId reference ro ref=Case rel=MasterRecord label=Master_Record_ID
CaseNumber string:30 req ro doc label=Case_Number
ContactId reference ref=Contact label=Contact_ID
AccountId reference ref=Account label=Account_ID
AssetId reference ref=Asset label=Asset_ID
SourceId reference ref=EmailMessage|LiveChatTranscript|SocialPost poly rel=Source label=Source_ID
ParentId reference ref=Case label=Parent_Case_ID
SuppliedName string:80 label=Name
SuppliedEmail email:80 label=Email_Address
SuppliedPhone string:40 label=Phone
SuppliedCompany string:80 label=Company
Type picklist:255 pl=case_type label=Case_Type
Status picklist:255 doc pl=case_status
Reason picklist:255 pl=case_reason label=Case_Reason
Origin picklist:255 pl=case_origin label=Case_Origin
Subject string:255
Priority picklist:255 doc pl=case_priority
Description textarea:32000
IsClosed boolean req ro doc label=Closed
ClosedDate datetime ro label=Closed_Date
IsEscalated boolean req doc label=Escalated
OwnerId reference req doc ref=Group|User poly rel=Owner label=Owner_ID
@audit
ContactPhone phone:40 ro label=Contact_Phone
ContactMobile phone:40 ro label=Contact_Mobile
ContactEmail email:80 ro label=Contact_Email
ContactFax phone:40 ro label=Contact_Fax
Comments textarea:4000 label=Internal_Comments
LastViewedDate datetime ro
LastReferencedDate datetime ro
"""

# What Task and Event share: the activity's id, its Who (a contact or a lead) and What, and its subject.
_ACTIVITY = """
Id id:18 req ro doc label=Activity_ID
WhoId reference ref=Contact|Lead poly rel=Who label=Name_ID
WhatId reference ref=Account|Opportunity|Case poly rel=What label=Related_To_ID
WhoCount int ro label=Relation_Count
WhatCount int ro label=Related_Count
Subject string:255
"""

# The standard Task object (an activity: Object Reference, "Task"). WhoId points at a contact or a lead,
# WhatId at an account, opportunity or other record; AccountId is the org's own (the Who's or What's
# account). IsClosed follows the Status; TaskSubtype is set on create and never changes.
TASK = (
    _ACTIVITY
    + """ActivityDate date label=Due_Date_Only
Status picklist:40 req doc pl=task_status
Priority picklist:40 req doc pl=task_priority
IsHighPriority boolean req ro doc label=High_Priority
OwnerId reference req doc ref=User rel=Owner label=Assigned_To_ID
Description textarea:32000
Type picklist:40 pl=task_type
IsDeleted boolean req ro doc label=Deleted
AccountId reference ro ref=Account label=Account_ID
IsClosed boolean req ro doc label=Closed
@audit
IsArchived boolean req ro doc label=Archived
CallDurationInSeconds int label=Call_Duration
CallType picklist:40 pl=call_type restricted
CallDisposition string:255 label=Call_Result
CallObject string:255 label=Call_Object_Identifier
ReminderDateTime datetime label=Reminder_Date/Time
IsReminderSet boolean req doc label=Reminder_Set
TaskSubtype picklist:40 co pl=task_subtype restricted
CompletedDateTime datetime ro label=Completed_Date/Time
"""
)

# The standard Event object (a calendar event, most often a meeting: Object Reference, "Event"). Who and
# What as on Task. Salesforce keeps the times consistent: ActivityDateTime is the StartDateTime (its date
# the ActivityDate), DurationInMinutes the minutes to EndDateTime (EndDate its date), and a save whose end
# is before its start is refused; an all-day event has dates and a duration of whole days.
EVENT = (
    _ACTIVITY
    + """Location string:255
IsAllDayEvent boolean req doc label=All-Day_Event
ActivityDateTime datetime label=Due_Date_Time
ActivityDate date label=Due_Date_Only
DurationInMinutes int label=Duration
StartDateTime datetime label=Start_Date_Time
EndDateTime datetime label=End_Date_Time
EndDate date ro label=End_Date_Only
Description textarea:32000
AccountId reference ro ref=Account label=Account_ID
OwnerId reference req doc ref=User rel=Owner label=Assigned_To_ID
Type picklist:40 pl=event_type
IsPrivate boolean req doc label=Private
ShowAs picklist:40 pl=event_show_as label=Show_Time_As
IsDeleted boolean req ro doc label=Deleted
IsChild boolean req ro doc label=Is_Child
IsGroupEvent boolean req ro doc label=Is_Group_Event
@audit
IsArchived boolean req ro doc label=Archived
ReminderDateTime datetime label=Reminder_Date/Time
IsReminderSet boolean req doc label=Reminder_Set
EventSubtype picklist:40 co pl=event_subtype restricted
"""
)

# The standard Campaign object (Object Reference, "Campaign"): the Number* and Amount* roll-ups are kept
# by Salesforce from the members and opportunities. Nothing stops an EndDate before the StartDate.
CAMPAIGN = """
@system
Name string:80 req label=Campaign_Name
ParentId reference ref=Campaign rel=Parent label=Parent_Campaign_ID
Type picklist:255 pl=campaign_type
Status picklist:255 pl=campaign_status
StartDate date
EndDate date
ExpectedRevenue currency label=Expected_Revenue_in_Campaign
BudgetedCost currency label=Budgeted_Cost_in_Campaign
ActualCost currency label=Actual_Cost_in_Campaign
ExpectedResponse percent label=Expected_Response_(%)
NumberSent double label=Num_Sent_in_Campaign
IsActive boolean req doc label=Active
Description textarea:32000
NumberOfLeads int ro label=Leads_in_Campaign
NumberOfConvertedLeads int ro label=Converted_Leads_in_Campaign
NumberOfContacts int ro label=Contacts_in_Campaign
NumberOfResponses int ro label=Responses_in_Campaign
NumberOfOpportunities int ro label=Opportunities_in_Campaign
NumberOfWonOpportunities int ro label=Won_Opportunities_in_Campaign
AmountAllOpportunities currency ro label=Value_Opportunities_in_Campaign
AmountWonOpportunities currency ro label=Value_Won_Opportunities_in_Campaign
OwnerId reference req doc ref=User rel=Owner label=Owner_ID
@audit
LastActivityDate date ro
LastViewedDate datetime ro
LastReferencedDate datetime ro
"""

# The standard CampaignMember object (Object Reference, "CampaignMember"): a lead or a contact (one of
# LeadId and ContactId) in a campaign, once each; the person's fields are copies Salesforce keeps.
CAMPAIGN_MEMBER = """
@system
CampaignId reference req co ref=Campaign label=Campaign_ID
LeadId reference co ref=Lead label=Lead_ID
ContactId reference co ref=Contact label=Contact_ID
Status picklist:40 pl=campaign_member_status
HasResponded boolean req ro doc label=Responded
@audit
FirstRespondedDate date ro label=Member_First_Responded
Salutation picklist:40 ro pl=salutation
Name string:121 ro
FirstName string:40 ro label=First_Name
LastName string:80 ro label=Last_Name
Title string:128 ro
CompanyOrAccount string:255 ro label=Company_(Account)
Email email:80 ro
LeadSource picklist:255 ro pl=lead_source
LeadOrContactId reference ro ref=Contact|Lead poly label=Contact_or_Lead_ID
LeadOrContactOwnerId reference ro ref=Group|User poly label=Owner_ID
Type string:40 ro
"""

# Products and price books (Object Reference: Product2, PricebookEntry, OpportunityLineItem). A line item
# is a product of a price book entry on an opportunity: ListPrice, ProductCode, Name and Subtotal come
# from the entry and the org; UnitPrice or TotalPrice is given on create (the org computes the other).
# While an opportunity has line items the org keeps its Amount to the sum of their TotalPrice.
PRODUCT2 = """
@system
Name string:255 req label=Product_Name
ProductCode string:255
Description textarea:4000 label=Product_Description
IsActive boolean req doc label=Active
Family picklist:40 pl=product_family label=Product_Family
StockKeepingUnit string:180 label=Product_SKU
QuantityUnitOfMeasure picklist:255 pl=quantity_unit label=Quantity_Unit_Of_Measure
IsArchived boolean req ro doc label=Archived
@audit
LastViewedDate datetime ro
LastReferencedDate datetime ro
"""

PRICEBOOK_ENTRY = """
@system
Name string:255 ro label=Product_Name
Pricebook2Id reference req co ref=Pricebook2 label=Price_Book_ID
Product2Id reference req co ref=Product2 label=Product_ID
UnitPrice currency req label=List_Price
IsActive boolean req doc label=Active
UseStandardPrice boolean req doc label=Use_Standard_Price
ProductCode string:255 ro
IsArchived boolean req ro doc label=Archived
@audit
"""

OPPORTUNITY_LINE_ITEM = """
@system
OpportunityId reference req co ref=Opportunity label=Opportunity_ID
SortOrder int label=Sort_Order
PricebookEntryId reference co ref=PricebookEntry label=Price_Book_Entry_ID
Product2Id reference co ref=Product2 label=Product_ID
ProductCode string:255 ro
Name string:376 ro label=Opportunity_Product_Name
Quantity double req
TotalPrice currency label=Total_Price
UnitPrice currency label=Sales_Price
ListPrice currency ro label=List_Price
ServiceDate date label=Date
Description string:255 label=Line_Description
Discount percent
Subtotal currency ro
@audit
LastViewedDate datetime ro
LastReferencedDate datetime ro
"""

# The standard Quote object (Object Reference: Quote): a priced offer on an opportunity. Its totals are
# the org's own sums of its quote line items (read-only); IsSyncing marks the quote whose lines the
# opportunity's line items follow; AccountId is the opportunity's.
QUOTE = """
@system
Name string:255 req label=Quote_Name
OpportunityId reference req co ref=Opportunity label=Opportunity_ID
Pricebook2Id reference ref=Pricebook2 label=Price_Book_ID
ContactId reference ref=Contact label=Contact_ID
QuoteNumber string:30 ro doc label=Quote_Number
IsSyncing boolean req ro doc label=Syncing
ShippingHandling currency label=Shipping_and_Handling
Tax currency
Status picklist:40 doc pl=quote_status
ExpirationDate date label=Expiration_Date
Description textarea:32000
Subtotal currency ro
TotalPrice currency ro label=Total_Price
LineItemCount int ro label=Line_Items
Discount percent ro
GrandTotal currency ro label=Grand_Total
Email email:80
Phone phone:40
Fax phone:40
AccountId reference ro ref=Account label=Account_ID
@audit
LastViewedDate datetime ro
LastReferencedDate datetime ro
"""

OPPORTUNITY_CONTACT_ROLE = """
Id id:18 req ro doc
OpportunityId reference req co ref=Opportunity
ContactId reference req ref=Contact
Role picklist:40 pl=role
IsPrimary boolean req doc label=Primary
@audit
IsDeleted boolean req ro doc label=Deleted
"""

USER = """
Id id:18 req ro doc label=User_ID
Username string:80 req
LastName string:80 req cmp=Name
FirstName string:40 cmp=Name
MiddleName string:40 cmp=Name
Suffix string:40 cmp=Name
Name string:121 req ro label=Full_Name xt=personname
CompanyName string:80
Division string:80
Department string:80
Title string:80
@address "" Address
Email email:128 req
EmailPreferencesAutoBcc boolean req
EmailPreferencesAutoBccStayInTouch boolean req
EmailPreferencesStayInTouchReminder boolean req
SenderEmail email:80 label=Email_Sender_Address
SenderName string:80 label=Email_Sender_Name
Signature textarea:1333 label=Email_Signature
StayInTouchSubject string:80
StayInTouchSignature textarea:512
StayInTouchNote string:512
Phone phone:40
Fax phone:40
MobilePhone phone:40 label=Mobile
Alias string:8 req
CommunityNickname string:40 req label=Nickname
BadgeText string:80 ro label=User_Photo_badge_text_overlay
IsActive boolean req doc label=Active
TimeZoneSidKey picklist:40 req pl=timezone label=Time_Zone
UserRoleId reference ref=UserRole label=Role_ID
LocaleSidKey picklist:40 req pl=locale label=Locale
ReceivesInfoEmails boolean req label=Info_Emails
ReceivesAdminInfoEmails boolean req label=Admin_Info_Emails
EmailEncodingKey picklist:40 req pl=encoding label=Email_Encoding
ProfileId reference req ref=Profile
UserType picklist:40 ro doc pl=user_type
LanguageLocaleKey picklist:40 req pl=language label=Language
EmployeeNumber string:20
DelegatedApproverId reference ref=Group|User poly
ManagerId reference ref=User
LastLoginDate datetime ro
LastPasswordChangeDate datetime ro
@audit
NumberOfFailedLogins int ro label=Failed_Login_Attempts
OfflineTrialExpirationDate datetime ro
OfflinePdaTrialExpirationDate datetime ro
UserPermissionsMarketingUser boolean req label=Marketing_User
UserPermissionsOfflineUser boolean req label=Offline_User
UserPermissionsCallCenterAutoLogin boolean req label=Auto-login_To_Call_Center
UserPermissionsSFContentUser boolean req label=Salesforce_CRM_Content_User
UserPermissionsKnowledgeUser boolean req label=Knowledge_User
UserPermissionsInteractionUser boolean req label=Flow_User
UserPermissionsSupportUser boolean req label=Service_Cloud_User
ForecastEnabled boolean req label=Allow_Forecasting
@preferences
ContactId reference ref=Contact
AccountId reference ro ref=Account
CallCenterId reference ref=CallCenter
Extension phone:40
FederationIdentifier string:512 label=SAML_Federation_ID
AboutMe textarea:1000 label=About_Me
FullPhotoUrl url:1024 ro label=Url_for_full-sized_Photo xt=imageurl
SmallPhotoUrl url:1024 ro label=Photo xt=imageurl
IsExtIndicatorVisible boolean req ro label=Show_external_indicator
OutOfOfficeMessage string:40 ro label=Out_of_office_message
MediumPhotoUrl url:1024 ro label=Url_for_medium_profile_photo xt=imageurl
DigestFrequency picklist:40 req doc pl=digest label=Chatter_Email_Highlights_Frequency
DefaultGroupNotificationFrequency picklist:40 req doc pl=group_notify
LastViewedDate datetime ro
LastReferencedDate datetime ro
BannerPhotoUrl url:1024 ro label=Url_for_banner_photo
SmallBannerPhotoUrl url:1024 ro label=Url_for_IOS_banner_photo
MediumBannerPhotoUrl url:1024 ro label=Url_for_Android_banner_photo
IsProfilePhotoActive boolean req ro label=Has_Profile_Photo
IndividualId reference ref=Individual
"""

# The User object's UserPreferences* checkboxes (Object Reference), one name each.
USER_PREFERENCES = """
ActivityRemindersPopup EventRemindersCheckboxDefault TaskRemindersCheckboxDefault ReminderSoundOff
DisableAllFeedsEmail DisableFollowersEmail DisableProfilePostEmail DisableChangeCommentEmail
DisableLaterCommentEmail DisProfPostCommentEmail ContentNoEmail ContentEmailAsAndWhen
ApexPagesDeveloperMode ReceiveNoNotificationsAsApprover ReceiveNotificationsAsDelegatedApprover
HideCSNGetChatterMobileTask DisableMentionsPostEmail DisMentionsCommentEmail HideCSNDesktopTask
HideChatterOnboardingSplash HideSecondChatterOnboardingSplash DisCommentAfterLikeEmail
DisableLikeEmail SortFeedByComment DisableMessageEmail DisableBookmarkEmail DisableSharePostEmail
EnableAutoSubForFeeds DisableFileShareNotificationsForApi ShowTitleToExternalUsers
ShowManagerToExternalUsers ShowEmailToExternalUsers ShowWorkPhoneToExternalUsers
ShowMobilePhoneToExternalUsers ShowFaxToExternalUsers ShowStreetAddressToExternalUsers
ShowCityToExternalUsers ShowStateToExternalUsers ShowPostalCodeToExternalUsers
ShowCountryToExternalUsers ShowProfilePicToGuestUsers ShowTitleToGuestUsers ShowCityToGuestUsers
ShowStateToGuestUsers ShowPostalCodeToGuestUsers ShowCountryToGuestUsers HideS1BrowserUI
DisableEndorsementEmail PathAssistantCollapsed CacheDiagnostics ShowEmailToGuestUsers
ShowManagerToGuestUsers ShowWorkPhoneToGuestUsers ShowMobilePhoneToGuestUsers ShowFaxToGuestUsers
ShowStreetAddressToGuestUsers LightningExperiencePreferred PreviewLightning
HideEndUserOnboardingAssistantModal HideLightningMigrationModal HideSfxWelcomeMat
HideBiggerPhotoCallout GlobalNavBarWTShown GlobalNavGridMenuWTShown CreateLEXAppsWTShown
FavoritesWTShown RecordHomeSectionCollapseWTShown RecordHomeReservedWTShown FavoritesShowTopFavorites
ExcludeMailAppAttachments SuppressTaskSFXReminders SuppressEventSFXReminders PreviewCustomTheme
HasCelebrationBadge UserDebugModePref SRHOverrideActivities NewLightningReportRunPageEnabled
ReverseOpenActivitiesView NativeEmailClient HideBrowseProductRedirectConfirmation
HidePicklistValueAdditionPrompt ShowForecastingChangeSignals
"""

# Child relationships the describes list (childSObject, field, relationshipName or "-", cascade 1/0).
CHILDREN: dict[str, str] = {
    "Account": """
        Account ParentId ChildAccounts 0; AccountContactRole AccountId AccountContactRoles 1;
        AccountHistory AccountId Histories 1; AccountShare AccountId Shares 1; ActivityHistory AccountId
        ActivityHistories 1; Asset AccountId Assets 1; Attachment ParentId Attachments 1; Case AccountId
        Cases 0; Contact AccountId Contacts 0; Contract AccountId Contracts 1; Event WhatId Events 1;
        Lead ConvertedAccountId - 0; Note ParentId Notes 1; OpenActivity AccountId OpenActivities 1;
        Opportunity AccountId Opportunities 0; Order AccountId Orders 1; Task WhatId Tasks 1;
        User AccountId Users 0; Subscription__c Account__c Subscriptions__r 0""",
    "Contact": """
        AccountContactRole ContactId AccountContactRoles 1; ActivityHistory WhoId ActivityHistories 1;
        Asset ContactId Assets 0; Attachment ParentId Attachments 1; CampaignMember ContactId
        CampaignMembers 1; Case ContactId Cases 0; Contact ReportsToId - 0; ContactHistory ContactId
        Histories 1; ContactShare ContactId Shares 1; EmailStatus WhoId EmailStatuses 1; Event WhoId
        Events 0; Lead ConvertedContactId - 0; Note ParentId Notes 1; OpenActivity WhoId
        OpenActivities 1; Opportunity ContactId Opportunities 0; OpportunityContactRole ContactId
        OpportunityContactRoles 1; Task WhoId Tasks 0; User ContactId Users 0""",
    "Lead": """
        ActivityHistory WhoId ActivityHistories 1; Attachment ParentId Attachments 1; CampaignMember
        LeadId CampaignMembers 1; EmailStatus WhoId EmailStatuses 1; Event WhoId Events 0; LeadHistory
        LeadId Histories 1; LeadShare LeadId Shares 1; Note ParentId Notes 1; OpenActivity WhoId
        OpenActivities 1; Task WhoId Tasks 0""",
    "Opportunity": """
        ActivityHistory WhatId ActivityHistories 1; Attachment ParentId Attachments 1; Event WhatId
        Events 1; Lead ConvertedOpportunityId - 0; Note ParentId Notes 1; OpenActivity WhatId
        OpenActivities 1; OpportunityCompetitor OpportunityId OpportunityCompetitors 1;
        OpportunityContactRole OpportunityId OpportunityContactRoles 1; OpportunityFieldHistory
        OpportunityId Histories 1; OpportunityHistory OpportunityId OpportunityHistories 1;
        OpportunityLineItem OpportunityId OpportunityLineItems 1; OpportunityPartner OpportunityId
        OpportunityPartnersFrom 1; OpportunityShare OpportunityId Shares 1; Task WhatId Tasks 1""",
    "Case": """
        ActivityHistory WhatId ActivityHistories 1; Attachment ParentId Attachments 1; Case ParentId
        Cases 0; CaseComment ParentId CaseComments 1; CaseContactRole CasesId CaseContactRoles 1;
        CaseHistory CaseId Histories 1; CaseShare CaseId Shares 1; EmailMessage ParentId EmailMessages 1;
        Event WhatId Events 1; OpenActivity WhatId OpenActivities 1; Task WhatId Tasks 1""",
    "OpportunityContactRole": "",
    "Campaign": """
        ActivityHistory WhatId ActivityHistories 1; Campaign ParentId ChildCampaigns 0; CampaignMember
        CampaignId CampaignMembers 1; Event WhatId Events 1; OpenActivity WhatId OpenActivities 1; Opportunity
        CampaignId Opportunities 0; Task WhatId Tasks 1""",
    "CampaignMember": "",
    "Product2": """
        OpportunityLineItem Product2Id - 0; PricebookEntry Product2Id PricebookEntries 1""",
    "PricebookEntry": """
        OpportunityLineItem PricebookEntryId - 0""",
    "User": """
        Account OwnerId - 0; Contact OwnerId - 0; Event OwnerId - 0; Lead OwnerId - 0; Opportunity
        OwnerId - 0; Task OwnerId - 0; User ManagerId ManagedUsers 0; UserRole ForecastUserId - 0""",
}

# crm_ops's own custom fields: present in the "crm_ops" org only.
CUSTOM = {
    "Account": """
HubSpot_Company_Id__c string:40 label=HubSpot_Company_Id
Account_Tier__c picklist:255 pl=tier
""",
    "Contact": """
HubSpot_Contact_Id__c string:40 label=HubSpot_Contact_Id
Preferred_Language__c picklist:255 pl=language_pref
""",
    "Lead": """
HubSpot_Contact_Id__c string:40 label=HubSpot_Contact_Id
""",
    "Opportunity": """
HubSpot_Deal_Id__c string:40 label=HubSpot_Deal_Id
""",
}

OBJECTS = {
    # name: (key prefix, label, plural, soft delete, field table)
    "Account": ("001", "Account", "Accounts", True, ACCOUNT),
    "Contact": ("003", "Contact", "Contacts", True, CONTACT),
    "Lead": ("00Q", "Lead", "Leads", True, LEAD),
    "Opportunity": ("006", "Opportunity", "Opportunities", True, OPPORTUNITY),
    "OpportunityContactRole": (
        "00K",
        "Opportunity Contact Role",
        "Opportunity Contact Role",
        True,
        OPPORTUNITY_CONTACT_ROLE,
    ),
    "User": ("005", "User", "Users", False, USER),
    "Case": ("500", "Case", "Cases", True, CASE),
    # a custom object (issue 26): its key prefix is one the org assigns (a0x-a9x)
    "Subscription__c": ("a1S", "Subscription", "Subscriptions", True, SUBSCRIPTION),
    "Task": ("00T", "Task", "Tasks", True, TASK),
    "Event": ("00U", "Event", "Events", True, EVENT),
    "Campaign": ("701", "Campaign", "Campaigns", True, CAMPAIGN),
    "CampaignMember": ("00v", "Campaign Member", "Campaign Members", True, CAMPAIGN_MEMBER),
    "Product2": ("01t", "Product", "Products", True, PRODUCT2),
    "Quote": ("0Q0", "Quote", "Quotes", True, QUOTE),
    "PricebookEntry": ("01u", "Price Book Entry", "Price Book Entries", True, PRICEBOOK_ENTRY),
    "OpportunityLineItem": (
        "00k",
        "Opportunity Product",
        "Opportunity Product",
        True,
        OPPORTUNITY_LINE_ITEM,
    ),
}

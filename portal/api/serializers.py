from rest_framework import serializers

from portal.models import Action, Consent, Organisation, Purpose, Role, ScopeKind, User
from portal.models.consent import TERM_FIELDS


class MeSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    username = serializers.CharField()
    display_name = serializers.CharField()
    role = serializers.CharField()
    organisation = serializers.CharField(allow_null=True)
    second_factor_verified = serializers.BooleanField()


class ConsentSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(
        source="series", read_only=True, help_text="Stable id of the contract (all versions)."
    )
    version_id = serializers.UUIDField(source="id", read_only=True)
    grantee = serializers.CharField(source="grantee_label", read_only=True)
    effective_status = serializers.SerializerMethodField()

    class Meta:
        model = Consent
        fields = [
            "id",
            "version",
            "version_id",
            "is_current",
            "grantee",
            *TERM_FIELDS,
            "status",
            "effective_status",
            "policy_text",
            "created_at",
        ]
        read_only_fields = fields

    def get_effective_status(self, obj) -> str:
        return obj.effective_status()


class ConsentCreateSerializer(serializers.Serializer):
    grantee_user = serializers.UUIDField(
        required=False, allow_null=True, help_text="A clinician or API client id. Give this or grantee_org."
    )
    grantee_org = serializers.UUIDField(required=False, allow_null=True, help_text="An organisation id.")
    actions = serializers.ListField(child=serializers.ChoiceField(choices=Action.values), min_length=1)
    purposes = serializers.ListField(child=serializers.ChoiceField(choices=Purpose.values), min_length=1)
    scope_kind = serializers.ChoiceField(choices=ScopeKind.values, default=ScopeKind.ALL)
    scope_scan_ids = serializers.ListField(child=serializers.UUIDField(), required=False, default=list)
    scope_modality = serializers.CharField(required=False, allow_blank=True, max_length=16, default="")
    scope_from = serializers.DateField(required=False, allow_null=True, default=None)
    scope_to = serializers.DateField(required=False, allow_null=True, default=None)
    start = serializers.DateTimeField(required=False, allow_null=True, default=None)
    end = serializers.DateTimeField(required=False, allow_null=True, default=None)

    def validate(self, attrs):
        user_id, org_id = attrs.pop("grantee_user", None), attrs.pop("grantee_org", None)
        if (user_id is None) == (org_id is None):
            raise serializers.ValidationError("Give exactly one of grantee_user and grantee_org.")
        if user_id is not None:
            grantee = User.objects.filter(pk=user_id, role__in=[Role.CLINICIAN, Role.API_CLIENT]).first()
            if grantee is None:
                raise serializers.ValidationError(
                    {"grantee_user": "No clinician or API client with this id."}
                )
            attrs["grantee_user"] = grantee
        else:
            org = Organisation.objects.filter(pk=org_id).first()
            if org is None:
                raise serializers.ValidationError({"grantee_org": "No organisation with this id."})
            attrs["grantee_org"] = org
        return attrs


class RevokeResultSerializer(serializers.Serializer):
    changed = serializers.BooleanField()
    detail = serializers.CharField()
    consent = ConsentSerializer()

from rest_framework import serializers

from lab.models import Tool


class RunCreateSerializer(serializers.Serializer):
    tool = serializers.ChoiceField(choices=Tool.choices)
    params = serializers.DictField(
        required=False,
        default=dict,
        help_text=(
            "bb84: qubits (16..20000), eve, noise (0..1) · neqr: source test|scan, size (16,32,64,128,256) "
            "or scan_id · qhash: samples (1..2000), message_bytes (1..1024) · bellauth: pairs (≤10000), "
            "checked (≤1000), attack none|intercept|entangle, noise, trials (≤2000) · ghost: source, scan_id, "
            "ratio (0,1], method gi|dgi|cs, patterns random|hadamard, detector_noise, sweep · all: seed"
        ),
    )


class ComparisonRowSerializer(serializers.Serializer):
    quantity = serializers.CharField()
    measured = serializers.JSONField()
    ideal = serializers.JSONField(allow_null=True)
    target = serializers.CharField()
    within = serializers.BooleanField(allow_null=True, help_text="null: no pass/fail criterion")


class RunSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    tool = serializers.CharField()
    tool_label = serializers.CharField()
    params = serializers.DictField()
    status = serializers.CharField(help_text="queued, running, done or failed")
    status_label = serializers.CharField()
    progress = serializers.IntegerField(min_value=0, max_value=100)
    message = serializers.CharField(allow_blank=True)
    done = serializers.BooleanField()
    failed = serializers.BooleanField()
    simulated = serializers.BooleanField(help_text="always true: classical simulation with qiskit-aer/numpy")
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    page_url = serializers.CharField()
    status_url = serializers.CharField()
    figure_url = serializers.CharField(allow_null=True)


class RunDetailSerializer(RunSerializer):
    result = serializers.DictField(allow_null=True, help_text="the library's JSON numbers")
    comparison = ComparisonRowSerializer(many=True)


class RunPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = RunSerializer(many=True)

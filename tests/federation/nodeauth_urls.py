"""A node API endpoint for the nodeauth tests: answers who the verified caller is."""

from django.urls import path
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from federation.api_auth import NodeSignatureAuthentication


class WhoAmI(APIView):
    authentication_classes = [NodeSignatureAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes: list = []

    def get(self, request):
        return Response(
            {
                "peer": request.auth.peer.origin,
                "clinician": str(request.user.pk),
                "name": request.user.display_name(),
            }
        )

    def post(self, request):
        return Response({"size": len(request.body)})


urlpatterns = [path("federation/v1/whoami", WhoAmI.as_view())]

"""Known-answer vectors from the C2SP specs, Go's golang.org/x/mod/sumdb/note tests, and
checkpoints of public logs cosigned by public witnesses of the C2SP witness network.

Each is someone else's output that our code must read (and, for the deterministic Ed25519
ones, reproduce) byte for byte. The witness checkpoints were published by
arche2025h1.staging.ct.transparency.dev (Ed25519 log line, four Ed25519 ``cosignature/v1``
witnesses) and coachandhorses2026h1.staging.certificate.transparency.goog (cosigned with
ML-DSA-44 by witness.navigli.sunlight.geomys.org).
"""

# c2sp.org/signed-note, "Example"
SIGNED_NOTE_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SIGNED_NOTE_PUBLIC_KEY = bytes.fromhex("e932791ae6e7a840a46164c904786426d5e7821dd8b29a00d61cae72afdd4da4")
SIGNED_NOTE = (
    "This is an example message.\n"
    "\n"
    "\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)

# golang.org/x/mod/sumdb/note: note.go doc example and note_test.go
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT
    + "\n"
    + "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)

# a real checkpoint: Ed25519 log signature (plus an RFC 6962 line, type 0x05, we do not
# know) and four Ed25519 cosignature/v1 witnesses, all with timestamp 1779573024
ED25519_LOG_VKEY = (
    "arche2025h1.staging.ct.transparency.dev+ba2f06c0+AU0vHmlGCS/PdN8b2OaGmKprLI8HKM+dJ472xgFYh15f"
)
COSIG_V1_VKEYS = (
    "transparency.dev/DEV:witness-little-garden+d8042a87+BCtusOxINQNUTN5Oj8HObRkh2yHf/MwYaGX4CPdiVEPM",
    "witness1.smartit.nu/witness1+a48c820f+BPSFWg9G6KPiO7QPryYO5Xq4oYJJ+kAvLKLSimDhoxMO",
    "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2",
    "witness.stagemole.eu+67f7aea0+BEqSG3yu9YrmcM3BHvQYTxwFj3uSWakQepafafpUqklv",
)
COSIG_V1_TIMESTAMP = 1779573024
COSIGNED_CHECKPOINT = (
    "arche2025h1.staging.ct.transparency.dev\n"
    "1432088532\n"
    "U7WM79jrzyhGZ5/GUBTpM7NzwdyfFx61t3RovgcC4Ro=\n"
    "\n"
    "— arche2025h1.staging.ct.transparency.dev zTM8sQAAAZ5W0WdjBAMARjBEAiBjW5IQf9pvsYLfQFX6hoGREPMHbdQ3urbllzalApkptQIgIpwtEroeW2BXaHAI4kJXFbon5Ch9MNL5zRNZ55lvGt0=\n"
    "— arche2025h1.staging.ct.transparency.dev ui8GwCF1+kWqZrxGdhj4aX3gcw7XUlXQQabg/27lefwhUkzbC3NygNI75MdhL1bfTW9g8Ei59RA23oHP7Ry1k3ZFWwQ=\n"
    "— transparency.dev/DEV:witness-little-garden 2AQqhwAAAABqEiEgzgFIqqhbUoDwjMWE6UP8nd8/KYTzwZ2rhIgcqoXHAwVkjZr4AscylP3v7sEodkRAErumC2q44vdgJY096st5BQ==\n"
    "— witness1.smartit.nu/witness1 pIyCDwAAAABqEiEghIp82KWebrw7/oHQwlTAm3g2RKS4+eebl8eO0WH+/iEcxZ75W3u5hNI7TOQtmJbqmNWVuE0tgh0XwzdZsDsUAQ==\n"
    "— remora.n621.de 2net5wAAAABqEiEgPlfF3V06o0Y+fHM+J5J9s27wgxxcOVSpZ/2g/KSiXCg9DEZI+aVCIobWX9sXTynk5XeU/zZ0WBxtqB0DrAWfBw==\n"
    "— witness.stagemole.eu Z/euoAAAAABqEiEgw0i+7g2ENfDAWHmtRzCfKTHSDwYDJA2NmKeGi9Y8FtEyOUvVr+AJmIY/2TUFucgKi7lI7cUiOvKFYe/TmN9DAg==\n"
)

# a real checkpoint cosigned with ML-DSA-44 (type 0x06, subtree/v1 message) at 1785704691
MLDSA_WITNESS_VKEY = (
    "witness.navigli.sunlight.geomys.org+6bc44249+BvKbJzZZb2L5kdgqACS68/hxJoQQ88Zhp7esVL81HYR"
    "PQAurY9cfky201kuNm1oSO71BiNPWC8oNHunBo/PnRD/eWIuu/ZPIsiG0Cq9xg8dJsoKuQGXJ2Hu1QLBoyFWUFWA"
    "tmURCRi5bXFYJjVy4fFFh5ClS477HTy7av3C6VvnOdYTH1jISdXyIblBTWkQEq24gMc2JZKiS5YleWbXjlVuDKaU"
    "3yQjDhyWTd8AZuCvrcC9rE8wOZ7etpkAEf2pPINQ4LnMEHCWTuEE5NZwGWwqcekXvNQvv1jjfWQkhSzXbFvbLmif"
    "pWxRFrHn9OSEPGfaCksRUvKoTZzOrIPuFAhAraDIXX0DLwc7xY9hcg2lGpCaDoOXoyAS6m4wGiqerd0kLjFitkgJ"
    "7A/tpIcO+m255eyWnZwrevWaFgx+xwN7OjdJTlGMK9Qgd7QJW1Qilmt/h1SqZGpithCfje+/MiUea2eyTKbPBCf5"
    "c206/5Axu789uL1v22XZRO5tfDPLpU5lTPYdD0dt9M4I02G/2mHsZ43dbcsSYe0i+oM6GgIV0CoTx833GJMCjOOZ"
    "bo3Qmlxwf3QFhkwGtc/db16iDfCW0U2NINxuSyDGahEIudOyNldfh+oe3tLyICiNGF3kGRQ1MRLD+e6AakJsjat9"
    "wMgjORHWx1rE7r14wCZtxFkSjOjSMpN8DiBXtGySSnWv2jKWnYnLPYhdqTJMEAZLLtd5Elaq+DukrJfmR5Jx348l"
    "x0E8AjALfg1oYQSCBKYlUN7h4kJhZhYGu6ahVPp1OBlA+DuBfoMtE6IiTfm11LseSOyNOtNTFe5V508Dw/APhoKu"
    "xy0mTAmEDmPnXTBvHhX1PVhl1qHTmfNhpukzxBRPKzsVN7y/FuJuqrX208k7SihRJGtDsXkQK/cFzTmSGvyHEKK+"
    "IHoKFpRK0dxEV6muqPJEEzehwZrJ7Rz0ZfkjuKVCiP98md+yD+r7GD2BjIb3IEzhrsbf5Ak7f5NImP4UoL6vy48Z"
    "fwmEo6tvn6StSVd912GYobRKHzboTBhUIn8c93VIX7PAQ64exm4l9wUBr3KMzHuykTW9m7C1xw1+Oqf3PGWN9rLH"
    "XNMPaR08xnImkTd+W74ls1sHH1CzJiNJB5QZg44zCajgL131L9G62AuTth/zJeGovddDU1m7N3i+e2Qz/omDKILl"
    "fUtcwPyyWeSvW/XX0ECFp/o9cDh/l6S5mcaT2Mtiiyn+owXl4Mx85Yppi2ZvVpZudLyhM0AGeoDdRRlfdeaJsvfC"
    "7pzBKzbj/1CKs7Ts962kvpCoDyZ5rMBK5PhFLvNXhl9ntKSTIAqUoM3vPgouzrA57Y9G5cWEJ741G4siABCFedWc"
    "DKT5zXKO682fncspp2MLjGCqNEWbSRRJ957q/W5mUyI1sDiXsKaaxGq0Xg86qu1AaEd7EBgOLj3i762ANsbZqtBu"
    "tkOdGD+MVeELpgNiOttWPW6Xq0ERM5NcJgezQJghy+y7IKf6zqrud4Ql6pklvjTuzCeLVsfpWQsqfgF4W0ZADldL"
    "fPCJIDBby1sxjh32i6hIp2R7QC6Mp87k9PAa5fiFDOqJXqDtGLxKPKu6UPdvbJHfHx4M37F6mfQnst4Bkjgf0kLG"
    "kW9isZ7bnids+QclIgfKFjZ5mD+ekGKo835+G44y7zAauKZzj8nBiNMSYwdAEMn6TYHciHn1VyetNEtzSMHInsV3"
    "0TOnahKfkNgvAuNCuxrIyNvFHCw9t3vRr/J0="
)
MLDSA_TIMESTAMP = 1785704691
MLDSA_COSIGNED_CHECKPOINT = (
    "coachandhorses2026h1.staging.certificate.transparency.goog\n"
    "185550722\n"
    "YXAM0VmnrfvLaBCOOYSJhCaE5F10oGBOo+hkbDa1kng=\n"
    "\n"
    "— coachandhorses2026h1.staging.certificate.transparency.goog MpXgsHy8ZwxXnO+WjtVrPxAzL49Rs1gWTkNVNeEa//5peAzaocRCB3qt3EaibjzY5GILLtGgBP7dBhgcSHy+JQh0OAc=\n"
    "— witness.navigli.sunlight.geomys.org o+AP4gAAAABqb7DzNrGFRJnQ9vrJ8xpnwZytnr/ZYczDIsvwvouiSjwOjn7a72ccxBk+lKnZ7dKqkYKER1s/KxLTaVwQD7lJZTC/CQ==\n"
    "— witness.navigli.sunlight.geomys.org a8RCSQAAAABqb7DzKgaCAhz8GvTJUusViqTl2y0zs3PB/w3w3m9hZqcsJyzIUW0BYxVMmpcG6sHvUR3CA9yB5g/9FI0VHU3HKpUfbMXxxNxrr0sLsBdTCoBj/Dd+bXmwQ1OuzWZn4/5gbolfSMm8wjjSBtmjx9dXv4mEyTgQV8Z+XEV8qS/Z4qYQHZayByHdw5W7nRDgwfdDRF496jim9n5rJDAZT2oFxXyLMh/4eqH/0ow8FtY3QvRw0tH+11Bb9rAvfCBnAWiDMeFcbSwEfYIww1kr5/+DveITD6Qm4TmqqPcjzIkT3ycQq1qKqPj3Be8tmqOeeE7bIac5+OoL9l2rdUV/8+Gp1nVIbuCUDR1ahhMl1QyFjBKUXcmKMyT8qFcSAu7O4duuZo/epa/nmVPnLtDzkbLn7MHrsj/nkGGyY+qt30HZetFwcQ11yRpnGxBdYsC4NgtkAhW6vjPTp6yFooFqhm8WW9EfU++sFaBdsbxStbav8O01UiP7UtawYikMW5FO+JuwnI7vPWkythz7gGL9wsg/sU7AsGec6t6MhOE4TSx5M8LHl0E8nRs/0TT+m1/4UtQewMHsraR4FmVsdhP+ppo/FDEK/6KyOKVwHPpD87x9/R0ToEN1O5hqsXBo+qD6HlOzR+lVjA7iJHLiW5Ti9R4jGoTARQ1wu8Fx8DkfPKki4bSBf+aia8eChq/o8+tkwWmpb0NLpPeByjiQAkNtWeYvg21WP7q0wbiQxHVQ7cUiWOgNu4zeK2qiWvcHq2BjMRtKDN56UL9omf5uMhN/AtZFeGX80CAOE6E/8pcpMuzQRR7NaszG0wM8xaWKhIMrX4lZMrR5iwnNpfSy35LF9JLiDJS/y9QA42/yd16e+8g9bJb4FEL8YAJh5TjJ7nVKFvkx5a2GEQIpFI5lIC0KKJuf16LZ4ufuA2RXedmr6bg4qRNvsFF2uk9ots43S9isZ2OihENwYqiQHfTlQmz0DZSXr84lkf2qb8z7l1Jd5jn3V2b9PuWnprBcR4db3FjL71gbOCYOVKTyF3PWB8B/TBhoa5ccUaYcP9tCjYJ3CHeJWIGKvPTr6fk2SpM5npRXje0R0arkpqAO5XzA+/hlSwJQo6F4TZMTFHUfNytct+Bl5Asm37eencixRgAwc4mSE+W1H6U/xujfnd2V57DEPP/RwuzFUEtV302Byp4GV9a8FcftRfDxOdTdTwqW/hI6HvQ6U118LMdimJ0sJZZ/LhCj23QI7eDaXBQfGIB86NNn8q+ZbP/t2feEMR7dhr8nNYHB8rcUf3+t/cytFBy5eFjaftavkJC75IhDWSIssSpWMVy8g9HnKjjAttfCvSGnYucgz8Q2lPpIgoGffDJNKVQG7obVPPRQ7yFGa6v3JP6YDN0DjQehZ+jmdmyNiwBc/6pXx/zd2j1Lr47il8UrCkZvL0UuDTstF/AF6tNO8r7v9piR2IWM7ndAHNhtRwOgklvQccpXCkvywZJCZIYquzS6RqqrvMHcJ7yPCFbpHx1AVRkTQcu1gzgxqYzk3AHn3/A9r9lnnjaqa4L/GTvoFOZOUYbPauEFU9rQB1Q1Oez9BuWYzjI4f8v46xye/e8LEaCbYaUGXzezWzatlK1vwP8zbbxpA6XdkHWzPxA+4+Hr1UP/791/p+spDgOH0+w6Lq6AHc+M7qwINcj/axZsR7MLpLXDtPLY97DRYAJR2kZVju5vaqdovcUKw45UXXdZAeGmhm5Mo4hY7J3vOIwV4SYQfC5B78x1rzglQ8qFaJ2lQpKztUV3+Uzw2WGNUk8wtaXQEIG0AHB3Y4WOqTObL9M/hQ6qJsPkD/KsSA0tNTlepgJ89rDS1PN4kQgM0Kd9YkZPHSGHbbJy+96oao0ylcsCul4qFVkgsTZxskGopRRu75ycuqobKktfD53uXOOdB4IdD2V9BKRUq5qwh6/JSlPPE0j5r2k7XS7/VgopnvfbePyHYTb3QmCJgKI38QWY7lpw4zSXZfpw9j5nJC2ktXsAAZzSuK8wRvakC3KiX1g+P8nYCFwO5aQh1wOb7HmyEgCkr7Q6i6raI6M0tt2CWA/bcbBWjvjxXO4Fvk0uMB6rN41lU8IEXOgp8xShHEMXR0R8bSsDm7vnp24tv/cJpwheeiNw6DPWoc0W69yA9Z9ASPV8iQXcEofvcbUTeGdn+xwGwoZHSRuzePYQYeLVsMQlvUJsvVxf3sRQ4VsS7EDRaqqqbWApRzr54REVb1XEJdbYdye8vNgSuhzNarXXjgM+FPLsazyjEuqjGKLdDOAd0G73HIYCOf4edK8rPD76v62+ik7kU9B9eRq5HAnJy/fuOQkqiv7wh9ENZtF5lR0SxWVPhsq/8Bq75KRYIM0KVsUlihzhW2tLYBK1SI1hgIYNI4sDeawt7tPooRvOY0wLi+B4Tz6iEyzzJaryRdE6UN3MEVpX/y1kNenCVRxqPhgstLqRrf1SgEucGTO31cetYxBjnaZxIkbBYHIOupr7d9gJWioQ7PFjxSFVbOmVriaz51qw0NxYf5VY5QV7V63UgGdW7fr5NvOZbJ0Eto8HwrylNginydVntDEU6fW0L4b60h1sN1St3uX21TdbzLvhWf9Pl3yuc1NO6L0M85LocPhl6mxDiycYzPd6kq98Eo4BYDyGJZoOk0ggZ+VnVudkNCASgxgdXKsg445gR/fJxzbL1QQgCoCP1xh/8NghI5ZVrgQ3DLa8fHwHifzl6emNoTHG2c8/2gMhIzLcdrNXScPHmzHdKA7Ubq+AApQc+57+yUFvXkYlQL8z+pcDZdeMu8AokvtBH7MxbMdcLsZFmlUTaFFUbp5ch1foc3B3yZxxntgmxIo2itWurdykQUrtlyGXZY3+UdQUs/Vhw06s8LU1ok7MAR7xfcr9UfrINRgfZ/fDPsqO1DUB7m0lcflxB/2il2O/AKh8DGtzW0HNGoeGAudMjn5zO/GnED5eJSRV+uv9QquaRkNGqFfNDazJGvGih6GTT4d1eIK9O5KdQSYk5QwJaGjstnacm+3XB+ap0RZr06m24x5I2EEa7eKGeuTi+DJ/SmMHVkOD7D1pCafSwYGrFXpR8R68l9AGSymaiJZQCaxd1jvWlTyVVy7WAMJpozgIGiYpOkprcHV5gpWy2/YSRVKhub719vwFFhkgPkVUV2GoscXHyN8JIys6O1pkaXR9hIe7vOfv9AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA8YJzg=\n"
)

# Sigsum's test policy (hex Ed25519 keys), as `sigsum-policy` printed it in December 2025.
# Its witness names are the witnesses' signed-note key names, and four of its keys are the
# cosignature/v1 keys of COSIG_V1_VKEYS.
SIGSUM_TEST_POLICY = """\
# Policy using two sigsum test logs at test.sigsum.org/barreleye and serviceberry.tlog.stagemole.eu

log 4644af2abd40f4895a003bca350f9d5912ab301a49c77f13e5b6d905c20a5fe6 https://test.sigsum.org/barreleye
log 47e481606d8acba747a6b053d6c2d191605fb122175d410a1202a91430abce39 https://serviceberry.tlog.stagemole.eu

# Test witness operated by Niels M\u00f6ller running on a Glasklar Teknik server
witness poc.sigsum.org/nisse                       1c25f8a44c635457e2e391d1efbca7d4c2951a0aef06225a881e46b98962ac6c

# Test witness operated by Rasmus Dahlberg - https://www.rgdd.se/poc-witness/about
witness rgdd.se/poc-witness                        28c92a5a3a054d317c86fc2eeb6a7ab2054d6217100d0be67ded5b74323c5806

# Test witness operated by Elias Rudberg - https://witness1.smartit.nu/witness1/about.txt
witness witness1.smartit.nu/witness1               f4855a0f46e8a3e23bb40faf260ee57ab8a18249fa402f2ca2d28a60e1a3130e

# Staging witness operated by Filippo Valsorda - https://navigli.sunlight.geomys.org/
witness witness.navigli.sunlight.geomys.org        dcbf728e02d479f5a7e20dc09adf525833ed6e797526517aeb07fc6854849fc6

# Test witness operated by Florian Larysch - https://remora.n621.de/
witness remora.n621.de                             ebcdeb78e7fdb2ef9227b2c1ef11e94600b55b4d6d9a57877e31ee89e59adc36

# Test witness operated by Mullvad VPN AB - https://witness.stagemole.eu/about
witness witness.stagemole.eu                       4a921b7caef58ae670cdc11ef4184f1c058f7b9259a9107a969f69fa54aa496f

# Test witness operated by Tillitis AB - new key since October 2025
witness tillitis.se/test-witness-1                 636582aec12f32c18a21733db9e3f718058ee7aaec6dbe4eb81781e0f4300c6e

# Test witness operated by Google TrustFabric team - https://transparency.dev/witnesses/
witness transparency.dev/DEV:witness-little-garden 2b6eb0ec483503544cde4e8fc1ce6d1921db21dffccc186865f808f7625443cc

# Group of 3 witnesses that are all run by Glasklar employees
group glasklar-test-witnesses 2 poc.sigsum.org/nisse rgdd.se/poc-witness witness1.smartit.nu/witness1

# Requiring 4 of 6 is intended to give reasonable reliability.
group quorum-rule 4 glasklar-test-witnesses witness.navigli.sunlight.geomys.org remora.n621.de \
witness.stagemole.eu tillitis.se/test-witness-1 transparency.dev/DEV:witness-little-garden

quorum quorum-rule
"""

/** The Pulumi project name, which is also the config namespace of every `multicloud-deploy:*` key. */
export const PROJECT = "multicloud-deploy";

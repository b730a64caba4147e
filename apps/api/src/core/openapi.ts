import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';

/**
 * Serves the app's OpenAPI document, generated from its controllers at start, at `/docs`
 * (Swagger UI, assets served locally), `/docs-json` and `/docs-yaml`. On the management port
 * they are behind its token, as everything there is.
 */
export function mountOpenApi(app: INestApplication, title: string, description: string): void {
  const config = new DocumentBuilder()
    .setTitle(title)
    .setDescription(description)
    .setVersion(process.env.npm_package_version ?? '0.1.0')
    .addBearerAuth()
    .build();
  const document = SwaggerModule.createDocument(app, config);
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
}
